"""Bodies of the sites' textual answers that are not HTML (a receipt, a calendar entry, a
feed), each with `{url}`: an absolute address the site builds for itself."""

RECEIPT = "Stad Kampen: registration received.\nYour notes: {url}\n"

CALENDAR = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Stad//Kampen//EN\r\nBEGIN:VEVENT\r\n"
            "UID:week2@kampen\r\nDTSTAMP:20270301T090000Z\r\nDTSTART;VALUE=DATE:20270712\r\n"
            "SUMMARY:Kamp week 2\r\nURL:{url}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")

FEED = ('<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>Stad Kampen</title><id>{url}</id><updated>2027-03-01T09:00:00Z</updated>"
        '<link rel="alternate" href="{url}"/></feed>\n')

# path → the Content-Type each site gives it
TYPES = {"/receipt.txt": "text/plain", "/calendar.ics": "text/calendar",
         "/feed.atom": "application/atom+xml"}

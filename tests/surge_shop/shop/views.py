"""The shop's pages: the event, the order form, the confirmation, and the count of
places left that the waiting room polls."""

from __future__ import annotations

import time

from django import forms
from django.db import transaction
from django.db.models import F
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from .models import Event, Order


class OrderForm(forms.Form):
    name = forms.CharField(max_length=200)
    email = forms.EmailField()


def _event() -> Event:
    return Event.objects.get()


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "shop/index.html", {"event": _event()})


@require_http_methods(["GET", "POST"])
def buy(request: HttpRequest) -> HttpResponse:
    event = _event()
    if request.method == "GET":
        if not event.left:
            return render(request, "shop/sold_out.html", {"event": event})
        return render(request, "shop/buy.html", {"event": event, "form": OrderForm()})
    form = OrderForm(request.POST)
    if not form.is_valid():
        return render(request, "shop/buy.html", {"event": event, "form": form}, status=400)
    order = take_place(event.pk, form.cleaned_data["name"], form.cleaned_data["email"])
    if order is None:
        return render(request, "shop/sold_out.html", {"event": event})
    request.session["orders"] = [*request.session.get("orders", []), order.pk]
    return redirect("done", order_id=order.pk)


def take_place(event_id: int, name: str, email: str) -> Order | None:
    """One place, or None when none is left: a conditional UPDATE in the same
    transaction as the order, so concurrent buyers can never take more than there are."""
    with transaction.atomic():
        taken = Event.objects.filter(pk=event_id, sold__lt=F("places")).update(
            sold=F("sold") + 1)
        if not taken:
            return None
        now = time.time()
        order = Order.objects.create(event_id=event_id, name=name, email=email, created_at=now)
        Event.objects.filter(pk=event_id, sold=F("places"), sold_out_at__isnull=True).update(
            sold_out_at=now)
    return order


@require_GET
def done(request: HttpRequest, order_id: int) -> HttpResponse:
    if order_id not in request.session.get("orders", []):
        raise Http404("no such order in this session")
    order = Order.objects.select_related("event").get(pk=order_id)
    return render(request, "shop/done.html", {"order": order})


@require_GET
def availability(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"available": _event().left})


@require_GET
def report(request: HttpRequest) -> JsonResponse:
    """The shop's own account, for the surge's report (not linked from any page)."""
    event = _event()
    return JsonResponse({
        "places": event.places, "sold": event.sold, "orders": Order.objects.count(),
        "sold_out_at": event.sold_out_at,
        "last_order_at": Order.objects.order_by("-created_at").values_list(
            "created_at", flat=True).first(),
    })

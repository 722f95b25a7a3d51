// Stepping away, in headless Chromium against a running gateway, worker, Redis and a
// local SMTP server (started by test_notify_page.py): the call back at the turn (title,
// sound, notification) and the e-mail form and its personal link. One scenario per run:
// `node notify.mjs NAME`. Fails with a non-zero exit and a reason; prints one JSON line.
import {
  BASE, ROOM, TOKEN, SHOTS, PAGE, PHONE, DESKTOP, found, check, admin, browser, context, axe, shots, positionOf, sleep,
} from "./kit.mjs";

// Another parent takes a place from outside the browser.
async function someoneJoins() {
  const first = await fetch(PAGE, { headers: { accept: "application/json" } });
  const cookie = first.headers.get("set-cookie").split(";")[0];
  const r = await fetch(PAGE, { headers: { accept: "application/json", cookie } });
  return (await r.json()).position;
}

// What the page does to call the visitor back, seen from outside: every title it sets,
// every tone it starts (with the state of its audio), every notification it shows.
async function watched(ctx, seen) {
  await ctx.exposeBinding("sluisSaw", (source, kind, detail) => {
    seen.push({ kind, detail, url: source.page.url() });
  });
  await ctx.addInitScript(() => {
    const Real = window.Notification;
    if (Real) {
      window.Notification = class extends Real {
        constructor(title, options) {
          window.sluisSaw("notification", title + " | " + ((options && options.body) || ""));
          super(title, options);
        }
      };
    }
    const start = OscillatorNode.prototype.start;
    OscillatorNode.prototype.start = function (...args) {
      window.sluisSaw("tone", this.context.state);
      return start.apply(this, args);
    };
    const title = Object.getOwnPropertyDescriptor(Document.prototype, "title");
    Object.defineProperty(Document.prototype, "title", {
      configurable: true,
      get() { return title.get.call(this); },
      set(value) { window.sluisSaw("title", value); title.set.call(this, value); },
    });
  });
}

// A parent asks to be called back (a sound; notifications were allowed before) and
// waits: the page updates itself in place, and at the turn it changes its title, plays
// the sound and shows a notification, then takes the parent in. A second parent, with
// automatic updates off, is called back the same way and stays on the page.
async function alert() {
  await admin({ rate_per_minute: 0, max_active: 0 });
  check(await someoneJoins() === 1 && await someoneJoins() === 2, "two parents ahead");
  const b = await browser();
  try {
    const ctx = await context(b);
    await ctx.grantPermissions(["notifications"], { origin: BASE });
    const seen = [];
    await watched(ctx, seen);
    const page = await ctx.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    let loads = 0;
    page.on("load", () => { loads += 1; });
    await page.goto(PAGE);
    check(await positionOf(page) === 3, "the parent is number 3");
    await page.locator("#alert").waitFor({ state: "visible" });
    check((await page.textContent("#alert-said")).includes("melding"),
      "the page says a notification will come (permission already granted)");
    check(await page.locator("#alert-notify").isHidden(), "no need to ask for permission");
    await page.getByLabel("Speel een geluid wanneer het mijn beurt is").check();
    const start = Date.now();
    while (!seen.some((s) => s.kind === "tone") && Date.now() - start < 5000) await sleep(50);
    check(seen.some((s) => s.kind === "tone"), "ticking the box plays a sample of the sound");
    check(await page.evaluate(() => sessionStorage.getItem("sluis.sound")) === "1",
      "the choice lasts as long as the tab");
    await shots(page, "alert-choices");
    await axe(page, "alert-choices");

    // The second parent turned automatic updates off.
    const calmCtx = await context(b);
    await calmCtx.grantPermissions(["notifications"], { origin: BASE });
    const calmSeen = [];
    await watched(calmCtx, calmSeen);
    const calm = await calmCtx.newPage();
    await calm.goto(PAGE);
    await calm.getByRole("link", { name: "Automatisch bijwerken stoppen" }).click();
    await calm.waitForURL(PAGE);
    check(await positionOf(calm) === 4, "the second parent is number 4");
    await calm.getByLabel("Speel een geluid wanneer het mijn beurt is").check();

    await admin({ rate_per_minute: 20, max_active: 100 });
    const positions = [3];
    const deadline = Date.now() + 60000;
    let landed = false;
    while (Date.now() < deadline) {
      await sleep(150);
      const body = await page.evaluate(() => document.body.innerText).catch(() => "");
      if (body.includes('"reached"')) {
        landed = true;
        break;
      }
      const p = await positionOf(page);
      if (p !== null && p !== positions[positions.length - 1]) positions.push(p);
    }
    check(landed, `the parent reached the registration site (positions ${positions})`);
    check(positions.length >= 2 && positions.every((p, i) => i === 0 || p < positions[i - 1]),
      `the position fell: ${positions}`);
    // Sentences changed on the way ("one person is ahead", "you are next"): updated in
    // place, so the page (and the sound it may play) was never reloaded.
    check(loads === 2, `the queue page loaded once, then the site (${loads} loads)`);
    const onQueue = seen.filter((s) => s.url.startsWith(PAGE));
    const called = onQueue.filter((s) => s.kind === "title" && s.detail.includes("jouw beurt"));
    check(called.length === 1 && called[0].detail.startsWith("\u{1F514} Het is jouw beurt!")
      && called[0].detail.endsWith(" · Zomerkampen 2027"), `the title called: ${JSON.stringify(called)}`);
    const tones = onQueue.filter((s) => s.kind === "tone");
    check(tones.length >= 4 && tones.every((t) => t.detail === "running"),
      `a sample, then three notes, with sound allowed: ${JSON.stringify(tones)}`);
    const shown = onQueue.filter((s) => s.kind === "notification");
    check(shown.length === 1 && shown[0].detail.startsWith("Het is jouw beurt! | Kom terug"),
      `one notification: ${JSON.stringify(shown)}`);
    check(errors.length === 0, `no script errors: ${errors}`);

    await calm.locator("#go").waitFor({ timeout: 30000 });
    check((await calm.title()).startsWith("\u{1F514} Het is jouw beurt!"), "the calm page's title");
    const calmTones = calmSeen.filter((s) => s.kind === "tone");
    check(calmTones.length >= 4, "the calm page played its sound");
    check(calmSeen.some((s) => s.kind === "notification"), "and showed its notification");
    check(await calm.locator("#away").isHidden(), "the choices make way for the way in");
    await shots(calm, "alert-turn");
    await axe(calm, "alert-turn");
    found.positions = positions;
    found.loads = loads;
  } finally {
    await b.close();
  }
}

// A visitor who did not allow notifications yet is offered the question; a browser
// that refused them is told so.
async function permission() {
  await admin({ rate_per_minute: 0, max_active: 0 });
  const b = await browser();
  try {
    const ctx = await context(b);
    const page = await ctx.newPage();
    await page.goto(PAGE);
    await page.locator("#alert").waitFor({ state: "visible" });
    const button = page.getByRole("button", { name: "Toon een melding wanneer het mijn beurt is" });
    check(await button.isVisible(), "the page offers to ask for notifications");
    // Headless Chromium answers the question itself ("denied"): the page says so.
    await button.click();
    await page.locator("#alert-said", { hasText: "staat geen meldingen" }).waitFor();
    check(await button.isHidden(), "no second question");
  } finally {
    await b.close();
  }
}

// A parent leaves an e-mail address on the page; one without JavaScript gets a page of
// its own. The personal link is opened by `link` below, once the message arrived.
async function mail() {
  const b = await browser();
  try {
    const ctx = await context(b);
    const page = await ctx.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(PAGE);
    const position = await positionOf(page);
    check(position === 1, `the parent is number 1 (${position})`);
    const form = page.locator("#mail-form");
    await form.waitFor({ state: "visible" });
    await page.getByLabel("Je e-mailadres").fill("ouder@example.be");
    await shots(page, "mail-form");
    await axe(page, "mail-form");
    await page.getByRole("button", { name: "Stuur me de link" }).click();
    await page.locator("#mail-said", { hasText: "persoonlijke link" }).waitFor();
    check(await form.isHidden(), "the form makes way for its answer");
    await shots(page, "mail-sent");
    await axe(page, "mail-sent");
    // A reload remembers it was sent, in this tab.
    await page.reload();
    await page.locator("#mail-said", { hasText: "persoonlijke link" }).waitFor();

    // Without JavaScript: the form posts, a page of its own answers and leads back.
    const plain = await context(b, { javaScriptEnabled: false, locale: "fr-BE" });
    const nojs = await plain.newPage();
    await nojs.goto(PAGE);
    // The first answer hands out the cookie; its refresh a second later takes the place.
    await nojs.locator("#position-line").waitFor({ timeout: 10000 });
    await nojs.getByLabel("Votre adresse e-mail").fill("autre@example.be");
    await nojs.getByRole("button", { name: "Envoyez-moi le lien" }).click();
    await nojs.waitForURL(BASE + "/_sluis/notify");
    check((await nojs.textContent("h1")).includes("Nous vous enverrons un e-mail"),
      "the answer without JavaScript");
    // (axe needs scripting: the same template is checked on the broken link's page.)
    await shots(nojs, "mail-notice");
    await nojs.getByRole("link", { name: "Retour à la file" }).click();
    await nojs.waitForURL(PAGE);
    check(errors.length === 0, `no script errors: ${errors}`);
    found.position = position;
  } finally {
    await b.close();
  }
}

// The personal link, opened in another browser (another device): it lands on the page
// the parent was on, in the same place.
async function link() {
  const b = await browser();
  try {
    const ctx = await context(b, { locale: "de-BE", viewport: DESKTOP });
    const page = await ctx.newPage();
    await page.goto(process.env.SLUIS_LINK);
    check(page.url() === PAGE, `the link leads to the parent's page (${page.url()})`);
    const position = await positionOf(page);
    check(position === Number(process.env.SLUIS_POSITION),
      `the same place on the other device (${position})`);
    await shots(page, "mail-link-opened");
    const bad = await ctx.newPage();
    await bad.goto(BASE + "/_sluis/place?t=abgeschnitten");
    check((await bad.textContent("h1")).includes("Dieser Link funktioniert nicht"), "a broken link");
    await shots(bad, "mail-link-broken");
    await axe(bad, "mail-link-broken");
    found.position = position;
  } finally {
    await b.close();
  }
}

const scenarios = { alert, permission, mail, link };
const name = process.argv[2];
try {
  check(name in scenarios, `unknown scenario ${name}`);
  await scenarios[name]();
  console.log(JSON.stringify(found));
} catch (e) {
  console.error(e.stack || String(e));
  console.log(JSON.stringify({ ...found, error: String(e) }));
  process.exit(1);
}

// The queue page in headless Chromium, against a running gateway, worker and Redis
// (started by test_queue_page.py). One scenario per run: `node scenarios.mjs NAME`.
// Fails with a non-zero exit and a reason; prints one JSON line of findings.
import {
  BASE, ROOM, TOKEN, SHOTS, PAGE, PHONE, DESKTOP, found, check, admin, browser, context, axe, shots, positionOf, sleep,
} from "./kit.mjs";

// A visitor waits, watches the position fall and lands on the registration site
// without touching anything.
async function journey() {
  await admin({ rate_per_minute: 0, max_active: 0 });
  for (let i = 0; i < 3; i++) {
    // The first answer hands out the cookie; bringing it back takes the place.
    const first = await fetch(PAGE, { headers: { accept: "application/json" } });
    check((await first.json()).state === "none", "the first answer holds no place yet");
    const cookie = first.headers.get("set-cookie").split(";")[0];
    const r = await fetch(PAGE, { headers: { accept: "application/json", cookie } });
    check((await r.json()).position === i + 1, "the other visitors take places 1 to 3");
  }
  const b = await browser();
  try {
    const ctx = await context(b);
    const page = await ctx.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(PAGE);
    check(await positionOf(page) === 4, "the visitor is number 4");
    await shots(page, "queued");
    await axe(page, "queued");
    const bar = page.locator("#bar");
    check(await bar.getAttribute("role") === "progressbar", "a progressbar");
    check(await bar.getAttribute("aria-valuemax") !== null, "progressbar has aria-valuemax");

    // A second parent who turned automatic updates off: told when it is their turn,
    // and goes in with one tap when ready.
    const calm = await (await context(b)).newPage();
    await calm.goto(PAGE);
    await calm.getByRole("link", { name: "Automatisch bijwerken stoppen" }).click();
    await calm.waitForURL(PAGE);
    check(await positionOf(calm) === 5, "the second parent is number 5");

    await admin({ rate_per_minute: 20, max_active: 100 });
    const seen = [4];
    const deadline = Date.now() + 60000;
    let landed = false;
    while (Date.now() < deadline) {
      await sleep(200);
      const body = await page.evaluate(() => document.body.innerText).catch(() => "");
      if (body.includes('"reached":"upstream"') || body.includes('"reached": "upstream"')) {
        landed = true;
        break;
      }
      const p = await positionOf(page);
      if (p !== null && p !== seen[seen.length - 1]) seen.push(p);
    }
    check(landed, `the visitor reached the registration site (positions seen: ${seen})`);
    check(seen.length >= 3 && seen.every((p, i) => i === 0 || p < seen[i - 1]),
      `the position fell step by step: ${seen}`);
    await calm.locator("#go").waitFor({ timeout: 30000 });
    check((await calm.textContent("#note")).includes("jouw beurt"), "the turn is announced");
    await shots(calm, "admitted");
    await axe(calm, "admitted");
    await calm.locator("#go").click();
    await calm.waitForFunction(() => document.body.innerText.includes("upstream"));
    check(errors.length === 0, `no script errors: ${errors}`);
    const echoed = JSON.parse(await page.evaluate(() => document.body.innerText));
    check(echoed.path === "/inschrijven/zomer" && echoed.admission, "forwarded with an admission");
    found.positions = seen;
  } finally {
    await b.close();
  }
}

// Without JavaScript the page refreshes itself, and the visitor can stop that.
async function nojs() {
  await admin({ rate_per_minute: 0, max_active: 0 });
  const b = await browser();
  try {
    const ctx = await context(b, { javaScriptEnabled: false });
    const page = await ctx.newPage();
    let loads = 0;
    page.on("load", () => { loads += 1; });
    const first = await page.goto(PAGE);
    check((await first.text()).includes("Een ogenblik"), "the first answer: a place is coming");
    const start = Date.now();
    while (loads < 2 && Date.now() - start < 10000) await sleep(100);
    check(loads >= 2, "the page refreshed by itself without JavaScript");
    await page.waitForLoadState();
    check(await positionOf(page) === 1, "the refresh brought the cookie back: number 1");
    await page.getByRole("link", { name: "Automatisch bijwerken stoppen" }).click();
    await page.waitForURL(PAGE);
    check((await page.content()).includes('data-refresh="off"'), "updates are off");
    const before = loads;
    await sleep(6000);
    check(loads === before, `no refresh once stopped (${loads - before} happened)`);
    check(page.url() === PAGE, "the visitor stays on the page");
    await page.getByRole("link", { name: "Automatisch bijwerken weer aanzetten" }).click();
    await page.waitForURL(PAGE);
    const again = loads;
    const t = Date.now();
    while (loads === again && Date.now() - t < 10000) await sleep(100);
    check(loads > again, "refreshing again once turned back on");
    found.loads = loads;
  } finally {
    await b.close();
  }
}

// The browser's language first; the visitor's own choice sticks.
async function language() {
  await admin({ rate_per_minute: 0, max_active: 0 });
  const b = await browser();
  try {
    const ctx = await context(b, { locale: "de-BE" });
    const page = await ctx.newPage();
    await page.goto(PAGE);
    check(await page.getAttribute("html", "lang") === "de", "German from Accept-Language");
    await page.getByRole("link", { name: "Français" }).click();
    await page.waitForURL(PAGE);
    check(await page.getAttribute("html", "lang") === "fr", "French after the switch");
    await page.reload();
    check(await page.getAttribute("html", "lang") === "fr", "French after a reload");
    await page.goto(BASE + "/zwemmen");
    check(await page.getAttribute("html", "lang") === "fr", "French on another page");
    check((await page.textContent("h1")).includes("Vous êtes dans la file"), "French heading");
    await axe(page, "queued-fr");
  } finally {
    await b.close();
  }
}

// Each state of the room as a new visitor sees it: screenshots and axe.
async function states() {
  const b = await browser();
  try {
    const soon = new Date(Date.now() + 2 * 3600 * 1000 + 754000).toISOString();
    const plan = [
      ["prequeue", { opens_at: soon, paused: false, closed: false }, "#countdown"],
      ["paused", { opens_at: null, paused: true, closed: false, rate_per_minute: 0 }, ".banner"],
      ["closed", { opens_at: null, paused: false, closed: true }, "#state"],
    ];
    for (const [name, changes, marker] of plan) {
      await admin(changes);
      const ctx = await context(b);
      const page = await ctx.newPage();
      await page.goto(PAGE);
      await page.locator(marker).waitFor();
      if (name === "prequeue") {
        await page.waitForFunction(() => /^0?2:1\d:\d\d$/.test(
          document.getElementById("countdown").textContent));
        check((await page.content()).includes("/_sluis/draw?room="), "the draw is linked");
      }
      await shots(page, name);
      await axe(page, name);
      await ctx.close();
    }
    await admin({ closed: false, rate_per_minute: 0, max_active: 0 });
    // A browser that refuses cookies: the page says why it cannot hold a place.
    const ctx = await context(b);
    const page = await ctx.newPage();
    // Its status calls arrive without the cookie (sent from here, outside the browser).
    await page.route((url) => url.pathname === "/_sluis/status", async (route) => {
      const r = await fetch(route.request().url(), { headers: { accept: "application/json" } });
      await route.fulfill({ status: r.status, contentType: "application/json",
        body: await r.text() });
    });
    await page.goto(PAGE);
    await page.locator("#note", { hasText: "cookie" }).waitFor({ timeout: 10000 });
    check(await positionOf(page) === null, "no place without the cookie");
    await shots(page, "no-cookie");
    await axe(page, "no-cookie");
    await ctx.close();
  } finally {
    await b.close();
  }
}

// A room with proof-of-work: the page solves its challenge, then gets its place; a
// request that brings the cookie back without a proof gets none.
async function proof() {
  const url = BASE + "/bewijs/zwembad";
  const bare = await fetch(url, { headers: { accept: "application/json" } });
  const body = await bare.json();
  check(body.state === "none" && body.proof && body.proof.bits === 12, "the challenge is named");
  const cookie = bare.headers.get("set-cookie").split(";")[0];
  const again = await fetch(url, { headers: { accept: "application/json", cookie } });
  check((await again.json()).state === "none", "no place without the proof");
  const b = await browser();
  try {
    const ctx = await context(b);
    const page = await ctx.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(url);
    await page.locator("#position-line strong").waitFor({ timeout: 20000 });
    found.proof_position = await positionOf(page);
    check(errors.length === 0, `no script errors: ${errors}`);
  } finally {
    await b.close();
  }
}

// The calm 503 while Redis is away (a gateway whose Redis does not answer).
async function unavailable() {
  const b = await browser();
  try {
    const ctx = await context(b);
    const page = await ctx.newPage();
    // The first answer needs no Redis; the request that takes the place does.
    const first = await page.goto(PAGE);
    check(first.status() === 200, `the first answer needs no Redis, got ${first.status()}`);
    const r = await page.goto(PAGE);
    check(r.status() === 503, `503 while Redis is away, got ${r.status()}`);
    check((await page.content()).includes("Houd deze pagina open"), "the calm text");
    await shots(page, "unavailable");
    await axe(page, "unavailable");
  } finally {
    await b.close();
  }
}

const scenarios = { journey, nojs, language, states, unavailable, proof };
const name = process.argv[2];
try {
  check(name in scenarios, `unknown scenario ${name}`);
  await scenarios[name]();
  console.log(JSON.stringify({ scenario: name, ok: true, ...found }));
} catch (e) {
  console.log(JSON.stringify({ scenario: name, ok: false, error: String(e && e.stack || e), ...found }));
  process.exit(1);
}

// A parent books a camp through the gateway with the internal booking engine, confirms,
// sees the confirmation, and reloads it a minute later: still the confirmation, not the
// queue. Meanwhile the freed slot lets a second parent in. Prints one JSON line.
// Env: SLUIS_URL, SLUIS_CHROMIUM, SLUIS_SHOTS, SLUIS_RELOAD_AFTER_MS.
import { chromium } from "playwright-core";

const base = process.env.SLUIS_URL;
const shots = process.env.SLUIS_SHOTS;
const reloadAfter = Number(process.env.SLUIS_RELOAD_AFTER_MS || "60000");
const found = {};

function check(ok, message) {
  if (!ok) throw new Error(message);
}

async function inside(page, what) {
  // Past the queue page: the booking engine's own page is shown.
  await page.waitForFunction(() => !document.querySelector('#sluis[data-kind]'),
    null, { timeout: 60000 });
  found[what] = page.url();
}

const b = await chromium.launch({
  executablePath: process.env.SLUIS_CHROMIUM,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const parent = await (await b.newContext({ locale: "nl-BE" })).newPage();
  await parent.goto(base + "/");
  await inside(parent, "home");
  await parent.locator("a.button", { hasText: "Kies" }).first().click();
  // The age rule, "Geboren 2016–2020": a child born in its first year.
  const meta = await parent.locator("main").innerText();
  const year = Number((meta.match(/(\d{4})\s*[–-]\s*\d{4}/) || [])[1]);
  check(year > 2000, `no birth year on the session page: ${meta}`);
  await parent.fill("#first_name", "Lotte");
  await parent.fill("#last_name", "Peeters");
  await parent.fill("#birth_date", `${year}-05-01`);
  await parent.fill("#email", "ouder@example.org");
  await parent.fill("#postcode", "3600");
  await parent.locator("form.register button[type=submit]").click();
  await parent.waitForURL(/\/basket/);
  await parent.locator("form[action$='/basket/checkout'] button").click();
  await parent.waitForURL(/\/basket\/done/);
  const confirmation = await parent.locator("h1").innerText();
  found.confirmation = confirmation;
  check(/bevestigd|confirmed/i.test(confirmation), `not the confirmation: ${confirmation}`);
  const confirmedAt = Date.now();
  await parent.screenshot({ path: `${shots}/exit-confirmation.png`, fullPage: true });

  // The slot is free: a second parent goes in while the first still reads.
  const second = await (await b.newContext({ locale: "nl-BE" })).newPage();
  await second.goto(base + "/");
  await inside(second, "second");

  // The minute counts from the confirmation: the second parent went in during it.
  await parent.waitForTimeout(Math.max(0, reloadAfter - (Date.now() - confirmedAt)));
  found.reloaded_after_ms = Date.now() - confirmedAt;
  const again = await parent.reload();
  found.reload_status = again.status();
  const after = await parent.locator("h1").innerText();
  found.after_reload = after;
  const queued = await parent.locator('#sluis[data-kind]').count();
  check(queued === 0 && after === confirmation, `the reload was queued: ${after}`);
  await parent.screenshot({ path: `${shots}/exit-reloaded.png`, fullPage: true });
  console.log(JSON.stringify({ ok: true, ...found }));
} catch (e) {
  for (const [i, pg] of b.contexts().flatMap((c) => c.pages()).entries()) {
    await pg.screenshot({ path: `${shots}/exit-failed-${i}.png`, fullPage: true }).catch(() => {});
    found[`failed_url_${i}`] = pg.url();
  }
  console.log(JSON.stringify({ ok: false, error: String(e && e.stack || e), ...found }));
  process.exitCode = 1;
} finally {
  await b.close();
}

// `sluis demo` in headless Chromium, against the running demo (started by
// tests/internal/test_demo.py): the waiting room carries the site's own name in the tab
// title, in Dutch and in French; the booking form says which postcodes pay the resident
// price, and a form full of mistakes (a blank name, a child of the wrong age, a bad
// e-mail address, the postcode "abc") hears of all of them at once. Prints one JSON line.
import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const BASE = process.env.SLUIS_URL;
const SHOTS = process.env.SLUIS_SHOTS;
const found = { screenshots: [], titles: {}, errors: [], axe: [] };

function check(ok, message) {
  if (!ok) throw new Error(message);
}

const siteOf = (title) => title.split(" · ").slice(1).join(" · ");

const b = await chromium.launch({
  executablePath: process.env.SLUIS_CHROMIUM, headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
try {
  mkdirSync(SHOTS, { recursive: true });
  // The tab title: the waiting room's first answer, then the site behind it, in two languages.
  for (const [locale, name] of [["nl-BE", "Zomerkampen en zwemmen"], ["fr-BE", "Stages d'été et natation"]]) {
    const ctx = await b.newContext({ locale, javaScriptEnabled: false });
    const page = await ctx.newPage();
    await page.goto(`${BASE}/`);
    const waiting = await page.title();
    check(await page.locator("#sluis[data-kind]").count() === 1, `the waiting room first (${locale})`);
    await page.goto(`${BASE}/`);  // the cookie comes back: an idle room lets the parent in
    check(await page.locator("#sluis[data-kind]").count() === 0, `then the site (${locale})`);
    const site = await page.title();
    found.titles[locale] = [waiting, site];
    check(siteOf(waiting) === name && siteOf(site) === name,
      `the waiting room is named as the site (${locale}): "${waiting}" and "${site}"`);
    await ctx.close();
  }

  const ctx = await b.newContext({ locale: "nl-BE", viewport: { width: 1000, height: 1400 } });
  ctx.setDefaultTimeout(15000);
  const page = await ctx.newPage();
  await page.goto(`${BASE}/`);
  await page.waitForFunction(() => !document.querySelector("#sluis[data-kind]"), null, { timeout: 30000 });
  await page.locator("a.button", { hasText: "Kies" }).first().click();
  await page.waitForSelector("form.register");
  const prices = (await page.locator("#prices").innerText()).replace(/\s+/g, " ");
  check(prices.includes("gezinnen met postcode 9990, 9991, 9992 betalen het inwonerstarief")
    && prices.includes("elke andere postcode betaalt het tarief voor anderen"), `the prices explained: ${prices}`);
  const hint = await page.locator("#postcode-hint").innerText();
  check(/^Postcode 9990, 9991, 9992: het inwonerstarief, € [\d,]+\. Elke andere postcode: € [\d,]+\.$/.test(hint.replace(/\s/g, " ")),
    `the postcode field says what it decides: ${hint}`);
  const priceShot = path.join(SHOTS, "booking-prices.png");
  await page.locator("main").screenshot({ path: priceShot });
  found.screenshots.push(priceShot);

  // Four mistakes at once: all four are listed in the first answer, each beside its field.
  const meta = await page.locator("main").innerText();
  const first = Number((meta.match(/(\d{4})\s*[–-]\s*\d{4}/) || [])[1]);
  check(first > 2000, `the camp's birth years: ${meta}`);
  await page.fill("#first_name", "");
  await page.fill("#last_name", "Peeters");
  await page.fill("#birth_date", `${first - 3}-05-14`);
  await page.fill("#email", "geen-adres");
  await page.fill("#postcode", "abc");
  await page.locator("form.register button[type=submit]").click();
  await page.waitForSelector(".error-summary");
  found.errors = (await page.locator(".error-summary li").allInnerTexts()).map((t) => t.trim());
  const expected = [
    "Vul dit in.",
    "Deze activiteit is niet voor een kind dat in dit jaar geboren is.",
    "Dit is geen e-mailadres.",
    "Dit is geen postcode. Een Belgische postcode heeft vier cijfers, bijvoorbeeld 9000.",
  ];
  check(found.errors.length === 4, `four mistakes, four messages: ${found.errors.join(" | ")}`);
  for (const text of expected) {
    check(found.errors.some((e) => e.startsWith(text.slice(0, 20))), `"${text}" among ${found.errors.join(" | ")}`);
  }
  for (const field of ["first_name", "birth_date", "email", "postcode"]) {
    check(await page.locator(`#${field}`).getAttribute("aria-invalid") === "true", `${field} is marked`);
    check(await page.locator(`#${field}-error`).count() === 1, `${field} has its message beside it`);
  }
  check(await page.inputValue("#postcode") === "abc", "what was typed stays");
  await page.evaluate(AXE);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  found.axe = result.violations.map((v) => `${v.impact}: ${v.id}`);
  check(bad.length === 0, "axe: " + bad.map((v) => v.id).join(", "));
  const errorShot = path.join(SHOTS, "booking-form-errors.png");
  await page.screenshot({ path: errorShot, fullPage: true });
  found.screenshots.push(errorShot);
  console.log(JSON.stringify({ scenario: "demo", ok: true, ...found }));
} catch (e) {
  console.log(JSON.stringify({ scenario: "demo", ok: false, error: String(e && e.stack || e), ...found }));
  process.exitCode = 1;
} finally {
  await b.close();
}

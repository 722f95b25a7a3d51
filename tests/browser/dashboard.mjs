// The operators' dashboard in headless Chromium, against a running gateway, worker and
// Redis (started by test_dashboard.py): sign in, read that max_active, not the rate, sets
// the pace of a full room, read the charts' clock times and scales, change the rate and
// pause (confirming old → new in words), read what was done once (not again on a reload),
// and find each change in the audit trail in the same words, at the room's own time,
// beside the breaker's and the inventory's entries. Prints one JSON line of findings.
import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const BASE = process.env.SLUIS_URL;
const ROOM = process.env.SLUIS_ROOM;
const TOKEN = process.env.SLUIS_ADMIN_TOKEN;
const SHOTS = process.env.SLUIS_SHOTS;
const ZONE = process.env.SLUIS_ZONE;  // the rooms' zone abbreviation now (CET or CEST)
const TRIP = process.env.SLUIS_TRIP;
const TITLE = "Zomerkampen 2027";
const found = { screenshots: [], axe: [], csp_violations: 0 };

function check(ok, message) {
  if (!ok) throw new Error(message);
}

const b = await chromium.launch({
  executablePath: process.env.SLUIS_CHROMIUM, headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
try {
  const ctx = await b.newContext({ viewport: { width: 1280, height: 900 }, locale: "en-GB" });
  ctx.setDefaultTimeout(15000);
  const page = await ctx.newPage();
  const errors = [];
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  await page.goto(`${BASE}/_sluis/admin/`);
  await page.fill("#name", "Anna");
  await page.fill("#token", TOKEN);
  await page.click("button[type=submit]");
  await page.waitForSelector(`#room-${ROOM}`);
  check(!page.url().includes(TOKEN), "the token never appears in a URL");
  const cookies = await ctx.cookies();
  const session = cookies.find((c) => c.name === "sluis_admin");
  check(session && session.httpOnly && session.sameSite === "Strict", "HttpOnly, strict session");

  // Three slots, each held up to 900 s, six visitors: the line waits for max_active.
  const pace = async () => (await page.locator(`#pace-${ROOM}`).textContent()).trim();
  const held = async () => (await page.locator(`#held-${ROOM}`).textContent()).replace(/\s+/g, " ");
  check(await pace() === "0.2", `the effective pace beside the rate: ${await pace()}`);
  const why = await held();
  check(why.includes("Holding the line now: Every slot is taken (3 of 3)"), `what holds the line: ${why}`);
  check(why.includes("max_active sets the pace, not the rate: 3 × 60 / 900 s sessions (assumed)"),
    `why the pace is slow: ${why}`);
  check(why.includes("To admit faster, raise max active"), `what to do about it: ${why}`);
  mkdirSync(SHOTS, { recursive: true });
  const paceShot = path.join(SHOTS, "dashboard-pace.png");
  await page.locator(`#room-${ROOM}`).screenshot({ path: paceShot });
  found.screenshots.push(paceShot);

  // The charts: clock times of the last hour in the room's zone below, a scale beside.
  const room = page.locator(`#room-${ROOM}`);
  const ticks = await room.locator("svg.chart").first().locator("text.tick").allTextContents();
  const clock = new Intl.DateTimeFormat("en-GB", { timeZone: "Europe/Brussels", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const quarters = new Set();
  for (let t = Date.now() - 62 * 60000; t <= Date.now() + 60000; t += 60000) {
    const d = new Date(t);
    if (d.getUTCMinutes() % 15 === 0) quarters.add(clock.format(d));
  }
  const times = ticks.filter((t) => /^\d\d:\d\d$/.test(t));
  check(times.length >= 3 && times.every((t) => quarters.has(t)),
    `quarter hours of the last hour in Brussels time: ${ticks.join(" ")} (expected among ${[...quarters].join(" ")})`);
  check(ticks.includes("0") && ticks.filter((t) => /^[0-9.,k]+$/.test(t)).length >= 3, `a scale of values: ${ticks.join(" ")}`);
  const caption = (await room.locator("figcaption").first().textContent()).replace(/\s+/g, " ");
  check(/Waiting latest [0-9—]+ · peak [0-9]+/.test(caption), `the latest value beside the chart: ${caption}`);
  check((await room.locator("svg.chart").count()) === 4, "four charts per room");

  // A change is confirmed in words, and the audit says it in the same words.
  const row = async () => (await page.locator("#audit tbody tr").first().textContent()).replace(/\s+/g, " ");
  await page.fill(`#rate-in-${ROOM}`, "45");
  await page.click(`#apply-${ROOM}`);
  await page.waitForSelector("#confirm");
  const table = (await page.locator("table.changes tbody").innerText()).replace(/\s+/g, " ");
  check(table.includes("Rate 30 a minute 45 a minute"), `confirm shows old → new in words: ${table}`);
  await page.click("#confirm");
  await page.waitForSelector("#done");
  let done = await page.locator("#done").textContent();
  check(done === `Changed in ${TITLE}: Rate: 30 a minute → 45 a minute.`, `a readable report: ${done}`);
  let audit = await row();
  check(audit.includes("Anna") && audit.includes("changed") && audit.includes("Rate: 30 a minute → 45 a minute"),
    `the audit shows the change in the confirm step's words: ${audit}`);
  const when = await page.locator("#audit tbody tr").first().locator("time");
  const shown = await when.textContent();
  check(new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d ${ZONE}$`).test(shown),
    `the audit time in the room's zone (${ZONE}): ${shown}`);
  const raw = await when.getAttribute("datetime");
  check(raw.endsWith("+00:00") && shown.slice(11, 13) !== raw.slice(11, 13),
    `converted from the gateway's UTC (${raw}): ${shown}`);
  check((await page.locator(`#rate-${ROOM}`).textContent()).trim() === "45", "the new target");
  check((await page.locator(`#queued-${ROOM}`).textContent()).trim() === "3", "the dashboard takes no place in a room");
  check(await pace() === "0.2", "a higher rate does not move a full room");
  await page.reload();
  await page.waitForSelector(`#room-${ROOM}`);
  check((await page.locator("#done").count()) === 0, "a reload does not repeat what was done");

  // Pause: the same words (no → yes) in the confirm step, the report and the audit.
  await page.click(`#pause-${ROOM}`);
  await page.waitForSelector("#confirm");
  const pauseTable = (await page.locator("table.changes tbody").innerText()).replace(/\s+/g, " ");
  check(pauseTable.includes("Paused no yes"), `pause confirmed in words: ${pauseTable}`);
  const confirmShot = path.join(SHOTS, "dashboard-confirm.png");
  await page.screenshot({ path: confirmShot });
  found.screenshots.push(confirmShot);
  await page.click("#confirm");
  await page.waitForSelector("#done");
  done = await page.locator("#done").textContent();
  check(done === `Changed in ${TITLE}: Paused: no → yes.`, `the pause reported: ${done}`);
  audit = await row();
  check(audit.includes("Paused: no → yes"), `the audit says the pause in the same words: ${audit}`);
  check((await held()).includes("Holding the line now: Paused"), `a paused room says so: ${await held()}`);
  const doneShot = path.join(SHOTS, "dashboard-done.png");
  await page.locator("main").screenshot({ path: doneShot });
  found.screenshots.push(doneShot);

  // The breaker's and the inventory's entries read in the same words.
  const trail = (await page.locator("#audit").textContent()).replace(/\s+/g, " ");
  check(trail.includes(`breaker opened: ${TRIP}`) && trail.includes("Breaker: closed → open")
    && trail.includes("breaker closed: recovered") && trail.includes("Breaker: open → closed"),
    `the breaker in words: ${trail}`);
  check(trail.includes("inventory source (marker): 0 places left") && trail.includes("Sold out: no → yes"),
    `sold out in words: ${trail}`);
  check(!/\b(True|False|true|false)\b/.test(trail) && !trail.includes(": 0 → 1") && !trail.includes(": 1 → 0"),
    `no raw flags in the audit: ${trail}`);
  const auditShot = path.join(SHOTS, "dashboard-audit.png");
  await page.locator("section.audit").screenshot({ path: auditShot });
  found.screenshots.push(auditShot);

  // The figures refresh by themselves (admin.js, no inline script): the charts shown
  // now are marked, and replaced by the next round (every 5 s) with unmarked ones.
  await page.evaluate(() => document.querySelectorAll("svg.chart").forEach((c) => c.setAttribute("data-before", "")));
  await page.waitForFunction(() => document.querySelectorAll("svg.chart").length >= 8
    && !document.querySelector("svg.chart[data-before]"), null, { timeout: 30000 }).catch(() => {});
  check((await page.locator("svg.chart").count()) >= 8
    && (await page.locator("svg.chart[data-before]").count()) === 0, "four charts per room, after a refresh");
  const chartShot = path.join(SHOTS, "dashboard-charts.png");
  await page.locator(`#room-${ROOM} .charts`).screenshot({ path: chartShot });
  found.screenshots.push(chartShot);
  await page.evaluate(AXE);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  found.axe = result.violations.map((v) => `${v.impact}: ${v.id}`);
  check(bad.length === 0, "axe: " + bad.map((v) => `${v.id} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`).join("; "));
  found.csp_violations = errors.filter((e) => e.includes("Content Security Policy")).length;
  check(found.csp_violations === 0, `CSP violations: ${errors.join(" | ")}`);
  const file = path.join(SHOTS, "dashboard-desktop.png");
  await page.screenshot({ path: file, fullPage: true });
  found.screenshots.push(file);
  console.log(JSON.stringify({ scenario: "dashboard", ok: true, ...found }));
} catch (e) {
  console.log(JSON.stringify({ scenario: "dashboard", ok: false, error: String(e && e.stack || e), ...found }));
  process.exitCode = 1;
} finally {
  await b.close();
}

// The operators' dashboard in headless Chromium, against a running gateway, worker and
// Redis (started by test_dashboard.py): sign in, read that max_active, not the rate, sets
// the pace of a full room, change the rate (confirming old → new), and find the change in
// the audit trail. Prints one JSON line of findings.
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

  await page.fill(`#rate-in-${ROOM}`, "45");
  await page.click(`#apply-${ROOM}`);
  await page.waitForSelector("#confirm");
  const table = await page.locator("table.changes").textContent();
  check(table.includes("rate_per_minute") && table.includes("45"), `confirm shows old → new: ${table}`);
  await page.click("#confirm");
  await page.waitForSelector("#done");
  const audit = await page.locator("#audit tbody tr").first().textContent();
  check(audit.includes("Anna") && audit.includes("rate_per_minute") && audit.includes("45"),
    `the audit shows the change: ${audit}`);
  check((await page.locator(`#rate-${ROOM}`).textContent()).trim() === "45", "the new target");
  check((await page.locator(`#queued-${ROOM}`).textContent()).trim() === "3", "the dashboard takes no place in a room");
  check(await pace() === "0.2", "a higher rate does not move a full room");
  // The figures refresh by themselves (admin.js, no inline script).
  await page.waitForTimeout(5600);
  check((await page.locator("svg.chart").count()) >= 4, "four charts per room");
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

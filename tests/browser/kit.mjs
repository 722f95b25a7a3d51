// What the browser scenarios share (scenarios.mjs, notify.mjs): the running stack from the
// environment, a Chromium like the one the tests start, axe-core and screenshots, and
// the findings printed at the end.
import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
export const BASE = process.env.SLUIS_URL;
export const ROOM = process.env.SLUIS_ROOM;
export const TOKEN = process.env.SLUIS_ADMIN_TOKEN;
export const SHOTS = process.env.SLUIS_SHOTS;
export const PAGE = BASE + "/inschrijven/zomer?week=2";
export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 800 };
export const found = { screenshots: [], axe: {} };

export function check(ok, message) {
  if (!ok) throw new Error(message);
}

export async function admin(changes) {
  const r = await fetch(`${BASE}/_sluis/admin/api/rooms/${ROOM}`, {
    method: "PATCH",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(changes),
  });
  check(r.status === 200, `admin PATCH ${JSON.stringify(changes)}: ${r.status} ${await r.text()}`);
}

export async function browser() {
  return chromium.launch({
    executablePath: process.env.SLUIS_CHROMIUM,
    headless: true,
    // Playwright gives every launch a fresh, temporary profile (--user-data-dir).
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

export async function context(b, options = {}) {
  const ctx = await b.newContext({ viewport: PHONE, locale: "nl-BE", ...options });
  ctx.setDefaultTimeout(15000);
  return ctx;
}

// Serious or critical axe-core findings on the page as it is now.
export async function axe(page, name) {
  await page.evaluate(AXE);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  found.axe[name] = result.violations.map((v) => `${v.impact}: ${v.id}`);
  check(bad.length === 0, `axe on ${name}: ` + bad.map((v) =>
    `${v.impact} ${v.id} (${v.help}) at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`).join("; "));
}

// The state at phone and desktop width, saved as test artefacts.
export async function shots(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  for (const [label, size] of [["phone", PHONE], ["desktop", DESKTOP]]) {
    await page.setViewportSize(size);
    const file = path.join(SHOTS, `${name}-${label}.png`);
    await page.screenshot({ path: file, fullPage: true });
    found.screenshots.push(file);
  }
  await page.setViewportSize(PHONE);
}

export async function positionOf(page) {
  const text = await page.locator("#position-line strong").textContent({ timeout: 2000 })
    .catch(() => null);
  return text == null ? null : Number(text);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));


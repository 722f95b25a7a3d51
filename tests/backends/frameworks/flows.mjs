// A person in headless Chromium uses a framework's site through the gateway: passes the
// queue page, signs in, posts a form that redirects, follows absolute links, uploads a
// file and signs out. Started by test_frameworks.py; prints one JSON line of what
// happened at every step (pytest judges it). A step that does not get where it should
// ends the run, with what the page showed.
//
// Environment: SITE_URL (the address visitors use), SITE_NAME (for screenshot names),
// SITE_USER, SITE_PASSWORD, SITE_UPLOAD (a file to upload), SITE_TEXT_PATHS (textual
// answers to fetch, comma-separated), SLUIS_SHOTS, SLUIS_CHROMIUM, SITE_NODE_MODULES (a
// node_modules holding playwright-core).
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.SITE_NODE_MODULES, "..", "package.json"));
const { chromium } = require("playwright-core");

const BASE = process.env.SITE_URL;
const ORIGIN = new URL(BASE).origin;
const NAME = process.env.SITE_NAME;
const SHOTS = process.env.SLUIS_SHOTS;
const STEP_MS = 15000;
const QUEUE_MS = 30000;

const report = { base: BASE, steps: [], navigations: [], foreign_requests: [], page_errors: [],
  screenshots: [] };
let documents = [];  // the main frame's answers during the current step
let sluis = [];  // requests for the gateway's own pages and assets during the step

class Stop extends Error {}

async function read(page, selector) {
  const found = await page.locator(selector).first().innerText({ timeout: 500 }).catch(() => null);
  return found == null ? null : found.trim();
}

// Runs `action`, then writes down where the page is and what it shows.
async function step(page, name, action, extra = async () => ({})) {
  documents = [];
  sluis = [];
  const entry = { name, ok: false };
  report.steps.push(entry);
  try {
    await action();
    await page.waitForLoadState("load");
    const refused = documents.find((d) => d.status >= 400);
    if (refused) {
      entry.error = `${refused.method} ${refused.url} answered ${refused.status}`;
    } else {
      entry.ok = true;
    }
  } catch (e) {
    entry.error = String(e && e.message ? e.message : e).split("\n")[0];
  }
  entry.documents = documents;
  entry.sluis_requests = sluis;
  entry.url = page.url();
  entry.app = await page.locator("body").getAttribute("data-app", { timeout: 500 })
    .catch(() => null);
  entry.who = await read(page, "#who");
  entry.messages = await read(page, "#messages");
  entry.reason = await read(page, "#reason");
  entry.text = ((await read(page, "body")) || "").slice(0, 800);
  Object.assign(entry, await extra().catch((e) => ({ extra_error: String(e) })));
  const file = path.join(SHOTS, `framework-${NAME}-${report.steps.length}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true }).then(() => report.screenshots.push(file))
    .catch(() => {});
  if (!entry.ok) throw new Stop(name);
}

// A click that navigates the page: waits for the new page to commit.
async function navigatingClick(page, selector) {
  const committed = page.waitForEvent("framenavigated", {
    predicate: (f) => f === page.mainFrame(), timeout: STEP_MS });
  await page.click(selector);
  await committed;
}

async function main() {
  mkdirSync(SHOTS, { recursive: true });
  for (const old of readdirSync(SHOTS).filter((f) => f.startsWith(`framework-${NAME}-`))) {
    rmSync(path.join(SHOTS, old));
  }
  const browser = await chromium.launch({
    executablePath: process.env.SLUIS_CHROMIUM,
    headless: true,
    // Playwright gives every launch a fresh, temporary profile (--user-data-dir).
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--ignore-certificate-errors"],
  });
  try {
    const ctx = await browser.newContext({ viewport: { width: 1024, height: 700 },
      locale: "en-GB", ignoreHTTPSErrors: true });
    ctx.setDefaultTimeout(STEP_MS);
    const page = await ctx.newPage();
    page.on("pageerror", (e) => report.page_errors.push(String(e)));
    page.on("framenavigated", (f) => {
      if (f === page.mainFrame()) report.navigations.push(f.url());
    });
    page.on("request", (q) => {
      const url = q.url();
      if (url.startsWith(ORIGIN + "/_sluis/")) sluis.push(`${q.method()} ${url}`);
      if (/^(https?|wss?):/.test(url) && new URL(url).origin !== ORIGIN) {
        report.foreign_requests.push(`${q.method()} ${url}`);
      }
    });
    page.on("response", (r) => {
      const q = r.request();
      if (!q.isNavigationRequest() || q.frame() !== page.mainFrame()) return;
      documents.push({ method: q.method(), url: r.url(), status: r.status() });
    });

    // The first answer is the queue page; its script brings the cookie back, the idle
    // room admits, and the page goes on to the site by itself.
    await step(page, "enter", async () => {
      await page.goto(BASE + "/login/");
      await page.waitForSelector("body[data-app]", { timeout: QUEUE_MS });
    });
    await step(page, "sign_in", async () => {
      await page.fill("#id_username", process.env.SITE_USER);
      await page.fill("#id_password", process.env.SITE_PASSWORD);
      await navigatingClick(page, "#login button[type=submit]");
    });
    await step(page, "post_and_redirect", async () => {
      await page.goto(BASE + "/notes/new/");
      await page.fill("input[name=text]", "Week 2 for Mila");
      await navigatingClick(page, "#note button[type=submit]");
    }, async () => ({ notes: await read(page, "#notes") }));
    await step(page, "absolute_links", async () => {
      await page.goto(BASE + "/links/");
    }, async () => ({ links: await page.locator("a.abs").evaluateAll(
      (as) => as.map((a) => a.getAttribute("href"))) }));
    await step(page, "follow_link", async () => {
      await navigatingClick(page, "a.abs >> nth=0");
    });
    // Textual answers other than HTML, fetched by the page's own script.
    let texts = [];
    await step(page, "text_answers", async () => {
      texts = await page.evaluate(async (paths) => Promise.all(paths.map(async (p) => {
        const r = await fetch(p);
        return { path: p, status: r.status, type: r.headers.get("content-type"),
          body: await r.text() };
      })), process.env.SITE_TEXT_PATHS.split(","));
    }, async () => ({ texts }));
    await step(page, "upload", async () => {
      await page.goto(BASE + "/upload/");
      await page.setInputFiles("input[type=file]", process.env.SITE_UPLOAD);
      await navigatingClick(page, "#upload button[type=submit]");
    }, async () => ({ file_name: await read(page, "#name"), size: await read(page, "#size"),
      sha256: await read(page, "#sha256") }));
    await step(page, "sign_out", async () => {
      await page.goto(BASE + "/account/");
      await navigatingClick(page, "#signout");
    });
    await step(page, "signed_out", async () => {
      await page.goto(BASE + "/account/");
    });
  } catch (e) {
    if (!(e instanceof Stop)) throw e;
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(report) + "\n");
}

await main();

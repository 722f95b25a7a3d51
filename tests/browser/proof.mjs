// gateway/static/proof.js in headless Chromium, both ways it can hash: crypto.subtle
// (asked for with engine "subtle"; the page is served from http://127.0.0.1, a secure
// context) and its own SHA-256 (the same request in a page whose crypto.subtle was
// removed before it loaded, as on a plain-HTTP site: the fallback). The page is served
// here with the gateway's script policy, script-src 'self', so the script must work
// under it. Reads {"challenges": {"<bits>": ["<hex>", ...]}} on stdin; prints one JSON
// line: {"subtle"|"js": {"<bits>": [{"challenge", "nonce", "ms", "engine"}]},
// "checks": {...}}. Run by test_proof_script.py and bench/proof.py.
import { readFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SCRIPT = readFileSync(path.join(HERE, "..", "..", "gateway", "static", "proof.js"));
const PAGE = "<!doctype html><html lang=en><title>proof</title><script src=/proof.js></script>";
const CSP = "default-src 'self'; script-src 'self'; base-uri 'none'; frame-ancestors 'none'";
const input = JSON.parse(readFileSync(0, "utf8"));

function check(ok, message) {
  if (!ok) throw new Error(message);
}

const server = http.createServer((req, res) => {
  const js = req.url === "/proof.js";
  if (!js && req.url !== "/") {
    res.writeHead(req.url === "/favicon.ico" ? 204 : 404).end();
    return;
  }
  res.writeHead(200, {
    "content-type": js ? "text/javascript; charset=utf-8" : "text/html; charset=utf-8",
    "content-security-policy": CSP,
    "cache-control": "no-store",
  });
  res.end(js ? SCRIPT : PAGE);
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const base = `http://127.0.0.1:${server.address().port}/`;

const browser = await chromium.launch({
  executablePath: process.env.SLUIS_CHROMIUM,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});

const found = { checks: {} };
const problems = [];
try {
  for (const engine of ["subtle", "js"]) {
    const ctx = await browser.newContext();
    if (engine === "js") {
      await ctx.addInitScript(() => { delete Crypto.prototype.subtle; });
    }
    const page = await ctx.newPage();
    page.on("console", (m) => { if (m.type() === "error") problems.push(`${engine}: ${m.text()}`); });
    page.on("pageerror", (e) => problems.push(`${engine}: ${e.message}`));
    await page.goto(base);
    const ready = await page.evaluate(() => ({
      defined: typeof window.sluisProof === "function",
      secure: window.isSecureContext,
      subtle: !!(window.crypto && window.crypto.subtle),
    }));
    check(ready.defined, `${engine}: window.sluisProof is not defined (blocked by the CSP?)`);
    check(ready.subtle === (engine === "subtle"),
      `${engine}: crypto.subtle is ${ready.subtle ? "present" : "absent"} (secure: ${ready.secure})`);
    // Without an engine named, the script's own SHA-256, even where crypto.subtle exists.
    found.checks[`${engine}_page_default_engine`] = await page.evaluate(async () => {
      await window.sluisProof("abcdef", 4);
      return window.sluisProof.engine;
    });

    // Both pages ask for crypto.subtle; where it is gone the script falls back to its own.
    found[engine] = {};
    for (const [bits, challenges] of Object.entries(input.challenges)) {
      found[engine][bits] = await page.evaluate(async ([list, b]) => {
        const out = [];
        for (const challenge of list) {
          const t0 = performance.now();
          const nonce = await window.sluisProof(challenge, b, "subtle");
          out.push({ challenge, nonce, ms: performance.now() - t0, engine: window.sluisProof.engine });
        }
        return out;
      }, [challenges, Number(bits)]);
      for (const r of found[engine][bits]) {
        check(r.engine === engine, `asked for ${engine}, the script used ${r.engine}`);
      }
    }

    // The page stays responsive: the longest wait of a timer during a 16-bit solve.
    found.checks[`${engine}_max_gap_ms`] = await page.evaluate(async () => {
      let last = performance.now();
      let gap = 0;
      let on = true;
      const tick = () => {
        const now = performance.now();
        gap = Math.max(gap, now - last);
        last = now;
        if (on) setTimeout(tick, 0);
      };
      setTimeout(tick, 0);
      await window.sluisProof("00112233445566778899aabbccddeeff", 16, "subtle");
      on = false;
      return Math.max(gap, performance.now() - last);
    });

    // Bad input is refused, never solved.
    found.checks[`${engine}_refused`] = await page.evaluate(async () => {
      const bad = [["", 8], ["XYZ", 8], [null, 8], ["abcd", -1], ["abcd", 1.5], ["abcd", "8"],
        ["abcd", 257]];
      let refused = 0;
      for (const [c, b] of bad) {
        try { await window.sluisProof(c, b); } catch (e) { if (e instanceof TypeError) refused++; }
      }
      return `${refused}/${bad.length}`;
    });
    await ctx.close();
  }
  check(problems.length === 0, `page errors: ${problems.join("; ")}`);
} finally {
  await browser.close();
  server.close();
}
console.log(JSON.stringify(found));

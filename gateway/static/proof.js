/* Sluis join proof-of-work: window.sluisProof(challenge, bits[, engine]) resolves to
   the first nonce (0, 1, 2, ... in base 36) for which sha256(challenge + ":" + nonce)
   starts with `bits` zero bits: the same nonce gateway/proof.py's solve() finds.
   Hashes with a small SHA-256 of its own ("js", the default: it works on plain HTTP
   too, and for messages this short it is measured 10-20x faster than crypto.subtle,
   whose every digest is a round trip to another thread, see docs/benchmarks.md), or
   with crypto.subtle when asked for "subtle" and the page is a secure context (else
   "js" anyway). Hands the event loop back every few thousand tries so the page stays
   responsive. sluisProof.engine says what the last call used: "js" or "subtle". */
(function () {
  "use strict";
  var CHUNK = 4096; // tries between two yields to the event loop (a few ms)
  var BATCH = 256; // crypto.subtle digests in flight at once
  var SUBTLE_CHUNK = 1024; // fewer with crypto.subtle: each try costs ten times more

  var K = new Int32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
  ]);
  var W = new Int32Array(64);

  // Compression of a message already padded to whole 64-byte blocks (see pad) into
  // out: the SHA-256 digest as 8 big-endian 32-bit words.
  function compress(msg, out) {
    var h0 = 0x6a09e667, h1 = 0xbb67ae85 | 0, h2 = 0x3c6ef372, h3 = 0xa54ff53a | 0;
    var h4 = 0x510e527f, h5 = 0x9b05688c | 0, h6 = 0x1f83d9ab, h7 = 0x5be0cd19;
    for (var p = 0; p < msg.length;) {
      var i;
      for (i = 0; i < 16; i++, p += 4) {
        W[i] = (msg[p] << 24) | (msg[p + 1] << 16) | (msg[p + 2] << 8) | msg[p + 3];
      }
      for (i = 16; i < 64; i++) {
        var x = W[i - 15], y = W[i - 2];
        W[i] = (W[i - 16] + W[i - 7] +
          (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) +
          (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10))) | 0;
      }
      var a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
      for (i = 0; i < 64; i++) {
        var t1 = (h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) +
          ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
        var t2 = ((((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) +
          ((a & b) ^ (a & c) ^ (b & c))) | 0;
        h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      h0 = (h0 + a) | 0; h1 = (h1 + b) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0;
      h4 = (h4 + e) | 0; h5 = (h5 + f) | 0; h6 = (h6 + g) | 0; h7 = (h7 + h) | 0;
    }
    out[0] = h0; out[1] = h1; out[2] = h2; out[3] = h3;
    out[4] = h4; out[5] = h5; out[6] = h6; out[7] = h7;
  }

  // The bytes, then 0x80, zeros, and the length in bits (64-bit big-endian), filling
  // whole 64-byte blocks: what compress() takes.
  function pad(bytes) {
    var len = bytes.length;
    var msg = new Uint8Array((len + 72) & ~63);
    msg.set(bytes);
    msg[len] = 0x80;
    var bitsHigh = Math.floor(len / 0x20000000), bitsLow = (len * 8) >>> 0;
    for (var i = 0; i < 4; i++) {
      msg[msg.length - 8 + i] = (bitsHigh >>> (24 - 8 * i)) & 0xff;
      msg[msg.length - 4 + i] = (bitsLow >>> (24 - 8 * i)) & 0xff;
    }
    return msg;
  }

  // Whether the words (most significant first) start with `bits` zero bits.
  function enough(words, bits) {
    for (var i = 0; bits > 0; i++, bits -= 32) {
      var w = words[i] >>> 0;
      if (bits >= 32 ? w !== 0 : w >>> (32 - bits) !== 0) return false;
    }
    return true;
  }

  function ascii(text) {
    var out = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
    return out;
  }

  // A macrotask without setTimeout's 4 ms clamp on nested calls.
  var channel = typeof MessageChannel === "function" ? new MessageChannel() : null;
  var waiting = [];
  if (channel) channel.port1.onmessage = function () { waiting.shift()(); };
  function yieldToLoop() {
    return new Promise(function (resolve) {
      if (!channel) return setTimeout(resolve, 0);
      waiting.push(resolve);
      channel.port2.postMessage(null);
    });
  }

  async function withJs(prefix, bits) {
    var head = ascii(prefix);
    var out = new Int32Array(8);
    var msg = null, size = 0;
    for (var n = 0; ; n++) {
      var nonce = n.toString(36);
      if (nonce.length !== size) { // padding and length change with the nonce's length
        size = nonce.length;
        msg = pad(ascii(prefix + nonce));
      }
      for (var j = 0; j < nonce.length; j++) msg[head.length + j] = nonce.charCodeAt(j);
      compress(msg, out);
      if (enough(out, bits)) return nonce;
      if ((n + 1) % CHUNK === 0) await yieldToLoop();
    }
  }

  async function withSubtle(subtle, prefix, bits) {
    var words = new Uint32Array(8);
    for (var n = 0; ; n += BATCH) {
      var pending = [];
      for (var k = 0; k < BATCH; k++) {
        pending.push(subtle.digest("SHA-256", ascii(prefix + (n + k).toString(36))));
      }
      var digests = await Promise.all(pending);
      for (k = 0; k < BATCH; k++) {
        var view = new DataView(digests[k]);
        for (var w = 0; w < 8; w++) words[w] = view.getUint32(w * 4);
        if (enough(words, bits)) return (n + k).toString(36);
      }
      // Digests coming back keep the task queue busy; a timer turn lets timers run too.
      if ((n + BATCH) % SUBTLE_CHUNK === 0) await new Promise(function (r) { setTimeout(r, 0); });
    }
  }

  async function solve(challenge, bits, engine) {
    if (typeof challenge !== "string" || !/^[0-9a-f]{1,64}$/.test(challenge)) {
      throw new TypeError("sluisProof: the challenge is 1 to 64 hex characters");
    }
    if (typeof bits !== "number" || bits % 1 !== 0 || bits < 0 || bits > 256) {
      throw new TypeError("sluisProof: bits is a whole number from 0 to 256");
    }
    var prefix = challenge + ":";
    var subtle = engine === "subtle" && window.crypto && window.crypto.subtle;
    if (subtle && typeof subtle.digest === "function") {
      try {
        var nonce = await withSubtle(subtle, prefix, bits);
        window.sluisProof.engine = "subtle";
        return nonce;
      } catch (e) {
        // A browser that lists crypto.subtle but refuses it here: count by hand.
      }
    }
    window.sluisProof.engine = "js";
    return withJs(prefix, bits);
  }

  window.sluisProof = function (challenge, bits, engine) {
    return solve(challenge, bits, engine);
  };
  window.sluisProof.engine = null;
})();

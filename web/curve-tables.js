// webkad: the two precomputed Ed25519 tables of curve25519-dalek (32-bit backend), computed
// in the browser instead of shipped. They are 38,400 bytes of curve points that no
// compressor can shrink (about 37 KB of the page's brotli bytes); computing them takes a few
// milliseconds. `cargo xtask build-web` runs this file under Node, finds its exact output in
// the wasm's data, zeroes those bytes there and makes wasm-bindgen's glue call
// __wkFillCurveTables before any Rust code runs (crates/xtask/src/page_tables.rs). If the
// bytes are not found (a dalek release changed its layout), the build leaves the wasm as it
// is: a wrong table can never reach the page.
//
// The layout, from curve25519-dalek's u32 backend: a field element is ten little-endian u32
// limbs of 26 and 25 bits alternately; an affine Niels point is (y+x, y−x, 2·d·x·y), with
// y+x the limb-wise sum of y's and x's limbs (not reduced). `odd` is B, 3B, 5B, … 127B
// (verification); `base` is 32 rows of [1..8]·256^i·B (signing and X25519 key generation).
function __wkCurveTables() {
    const p = (1n << 255n) - 19n;
    const mod = (a) => ((a % p) + p) % p;
    // d = −121665/121666 and the base point B (y = 4/5, x even), the curve's constants.
    const d = 0x52036cee2b6ffe738cc740797779e89800700a4d4141d8ab75eb4dca135978a3n;
    const d2 = (2n * d) % p;
    const bx = 0x216936d3cd6e53fec0a4e231fdd6dc5c692cc7609525a7b2c9562d608f25d51an;
    const by = 0x6666666666666666666666666666666666666666666666666666666666666658n;
    const inv = (a) => {
        let r = 1n;
        for (let b = a, e = p - 2n; e; e >>= 1n, b = (b * b) % p) if (e & 1n) r = (r * b) % p;
        return r;
    };
    // Extended coordinates (X, Y, Z, T); the unified addition also doubles.
    const add = ([x1, y1, z1, t1], [x2, y2, z2, t2]) => {
        const a = mod((y1 - x1) * (y2 - x2));
        const b = mod((y1 + x1) * (y2 + x2));
        const c = (((t1 * d2) % p) * t2) % p;
        const e = mod(b - a);
        const dd = (2n * z1 * z2) % p;
        const f = mod(dd - c);
        const g = mod(dd + c);
        const h = mod(b + a);
        return [(e * f) % p, (g * h) % p, (f * g) % p, (e * h) % p];
    };
    const base = [bx, by, 1n, mod(bx * by)];
    const points = [];
    const twice = add(base, base);
    for (let i = 0, acc = base; i < 64; i++, acc = add(acc, twice)) points.push(acc);
    for (let i = 0, row = base; i < 32; i++) {
        for (let j = 0, acc = row; j < 8; j++, acc = add(acc, row)) points.push(acc);
        for (let k = 0; k < 8; k++) row = add(row, row);
    }
    // One inversion for all: Montgomery's trick over the Z coordinates.
    const prefix = [];
    let run = 1n;
    for (const q of points) prefix.push(run), (run = (run * q[2]) % p);
    let invRun = inv(run);
    const zInv = new Array(points.length);
    for (let i = points.length - 1; i >= 0; i--) {
        zInv[i] = (invRun * prefix[i]) % p;
        invRun = (invRun * points[i][2]) % p;
    }
    const out = new DataView(new ArrayBuffer(points.length * 120));
    const limbs = (v) => {
        const l = [];
        for (let i = 0; i < 10; i++) {
            const bits = i % 2 ? 25n : 26n;
            l.push(Number(v & ((1n << bits) - 1n)));
            v >>= bits;
        }
        return l;
    };
    points.forEach((q, i) => {
        const x = (q[0] * zInv[i]) % p;
        const y = (q[1] * zInv[i]) % p;
        const lx = limbs(x);
        const ly = limbs(y);
        const fields = [
            ly.map((v, k) => v + lx[k]),
            limbs(mod(y - x)),
            limbs((((x * y) % p) * d2) % p),
        ];
        fields.flat().forEach((v, k) => out.setUint32(i * 120 + k * 4, v, true));
    });
    const bytes = new Uint8Array(out.buffer);
    return { odd: bytes.subarray(0, 64 * 120), base: bytes.subarray(64 * 120) };
}

function __wkFillCurveTables(memory, oddAt, baseAt) {
    const tables = __wkCurveTables();
    new Uint8Array(memory.buffer, oddAt, tables.odd.length).set(tables.odd);
    new Uint8Array(memory.buffer, baseAt, tables.base.length).set(tables.base);
}

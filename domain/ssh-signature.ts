/**
 * OpenSSH's signature format (PROTOCOL.sshsig, what `ssh-keygen -Y sign` writes) for Ed25519 keys,
 * verified in pure JavaScript so the workflow's update validator can run it deterministically.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';

/** The namespace every approval is signed in: a signature made for git commits or anything else never counts. */
export const APPROVAL_NAMESPACE = 'meridian-approval';

const ED25519 = 'ssh-ed25519';
const MAGIC = 'SSHSIG';
const ARMOR = /^-----BEGIN SSH SIGNATURE-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END SSH SIGNATURE-----\s*$/;

export interface PublicKey {
  /** The key's wire blob: string "ssh-ed25519", string key. */
  blob: Uint8Array;
  raw: Uint8Array;
  /** As `ssh-keygen -l` prints it: SHA256:<unpadded base64>. */
  fingerprint: string;
}

export type Parsed<T> = { ok: T } | { error: string };

/** An `ssh-ed25519 AAAA… comment` line, as in `~/.ssh/id_ed25519.pub` or an allowed_signers file. */
export function parsePublicKey(line: string): Parsed<PublicKey> {
  const [type, data] = line.trim().split(/\s+/);
  if (type !== ED25519 || !data) return { error: `not an ssh-ed25519 public key (expected "ssh-ed25519 AAAA…", got "${line.trim().slice(0, 24)}…")` };
  const blob = fromBase64(data);
  if (!blob) return { error: 'the public key is not valid base64' };
  const r = new Reader(blob);
  const kind = r.text();
  const raw = r.bytes();
  if (kind !== ED25519 || !raw || raw.length !== 32 || !r.done()) return { error: 'the public key blob is not an Ed25519 key' };
  return { ok: { blob, raw, fingerprint: fingerprint(blob) } };
}

export function fingerprint(blob: Uint8Array): string {
  return `SHA256:${toBase64(sha256(blob)).replace(/=+$/, '')}`;
}

interface SshSignature {
  key: Uint8Array;
  namespace: string;
  reserved: Uint8Array;
  hash: 'sha256' | 'sha512';
  signature: Uint8Array;
}

function parseSignature(armored: string): Parsed<SshSignature> {
  const m = ARMOR.exec(armored.trim());
  const blob = m ? fromBase64(m[1]!.replace(/\s+/g, '')) : undefined;
  if (!blob) return { error: 'not an SSH signature (expected -----BEGIN SSH SIGNATURE----- … -----END SSH SIGNATURE-----)' };
  const r = new Reader(blob);
  if (r.raw(6) !== MAGIC || r.u32() !== 1) return { error: 'not an SSHSIG version 1 signature' };
  const key = r.bytes();
  const namespace = r.text();
  const reserved = r.bytes();
  const hash = r.text();
  const wrapped = r.bytes();
  if (!key || namespace === undefined || !reserved || !wrapped || !r.done()) return { error: 'the SSH signature is truncated' };
  if (hash !== 'sha256' && hash !== 'sha512') return { error: `unsupported hash "${hash}" in the SSH signature` };
  const inner = new Reader(wrapped);
  const kind = inner.text();
  const signature = inner.bytes();
  if (kind !== ED25519 || !signature || signature.length !== 64) return { error: `the signature was not made with an Ed25519 key (${kind ?? 'unknown'})` };
  return { ok: { key, namespace, reserved, hash, signature } };
}

/**
 * Whether `armored` is a signature of `message` in `namespace` by `key`. The answer names what is
 * wrong, and on success the signing key's fingerprint.
 */
export function verifySshSignature(message: string, armored: string, key: PublicKey, namespace = APPROVAL_NAMESPACE): Parsed<{ fingerprint: string }> {
  const parsed = parseSignature(armored);
  if ('error' in parsed) return parsed;
  const sig = parsed.ok;
  if (sig.namespace !== namespace) return { error: `the signature is for namespace "${sig.namespace}", not "${namespace}"` };
  if (!equal(sig.key, key.blob)) return { error: `the signature was made with key ${fingerprint(sig.key)}, not ${key.fingerprint}` };
  const data = utf8(message);
  const digest = sig.hash === 'sha512' ? sha512(data) : sha256(data);
  const signed = concat(utf8(MAGIC), str(utf8(namespace)), str(sig.reserved), str(utf8(sig.hash)), str(digest));
  let valid = false;
  try {
    valid = ed25519.verify(sig.signature, signed, key.raw);
  } catch {
    valid = false;
  }
  return valid ? { ok: { fingerprint: key.fingerprint } } : { error: `the signature does not match the statement (key ${key.fingerprint})` };
}

/** The key that made an armored signature, as its fingerprint; undefined when it cannot be read. */
export function signatureFingerprint(armored: string): string | undefined {
  const parsed = parseSignature(armored);
  return 'ok' in parsed ? fingerprint(parsed.ok.key) : undefined;
}

class Reader {
  private at = 0;
  private readonly buf: Uint8Array;
  constructor(buf: Uint8Array) {
    this.buf = buf;
  }
  done(): boolean {
    return this.at === this.buf.length;
  }
  u32(): number | undefined {
    if (this.at + 4 > this.buf.length) return undefined;
    const b = this.buf;
    const n = ((b[this.at]! << 24) | (b[this.at + 1]! << 16) | (b[this.at + 2]! << 8) | b[this.at + 3]!) >>> 0;
    this.at += 4;
    return n;
  }
  raw(n: number): string | undefined {
    if (this.at + n > this.buf.length) return undefined;
    const s = String.fromCharCode(...this.buf.subarray(this.at, this.at + n));
    this.at += n;
    return s;
  }
  bytes(): Uint8Array | undefined {
    const n = this.u32();
    if (n === undefined || this.at + n > this.buf.length) return undefined;
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  text(): string | undefined {
    const b = this.bytes();
    return b ? String.fromCharCode(...b) : undefined;
  }
}

const utf8 = (s: string) => new TextEncoder().encode(s);

function str(b: Uint8Array): Uint8Array {
  const len = new Uint8Array([b.length >>> 24, (b.length >>> 16) & 255, (b.length >>> 8) & 255, b.length & 255]);
  return concat(len, b);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Base64 by hand: the workflow sandbox has neither Buffer nor a guaranteed atob. */
function fromBase64(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  const clean = text.replace(/=+$/, '');
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0;
  let value = 0;
  let at = 0;
  for (const c of clean) {
    value = (value << 6) | ALPHABET.indexOf(c);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (value >>> bits) & 255;
    }
  }
  return out;
}

function toBase64(b: Uint8Array): string {
  let out = '';
  for (let i = 0; i < b.length; i += 3) {
    const n = (b[i]! << 16) | ((b[i + 1] ?? 0) << 8) | (b[i + 2] ?? 0);
    out += ALPHABET[(n >>> 18) & 63]! + ALPHABET[(n >>> 12) & 63]! + (i + 1 < b.length ? ALPHABET[(n >>> 6) & 63]! : '=') + (i + 2 < b.length ? ALPHABET[n & 63]! : '=');
  }
  return out;
}

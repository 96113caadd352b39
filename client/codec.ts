import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { METADATA_ENCODING_KEY, type DataConverter, type Payload, type PayloadCodec } from '@temporalio/common';
import proto from '@temporalio/proto';

const { temporal } = proto;

/**
 * AES-256-GCM encryption of every payload a client or worker sends to Temporal: workflow and
 * activity inputs and results, queries, updates, summaries and current details, and (through the
 * failure converter) failure messages and stack traces. Search attributes and workflow ids are
 * never payloads and stay readable.
 *
 * An encrypted payload carries two metadata entries, `encoding: binary/encrypted` and
 * `encryption-key-id: <id>`, and its data is the original payload (metadata and data, serialized as
 * a temporal.api.common.v1.Payload) encrypted: 12-byte random IV, ciphertext, 16-byte GCM tag.
 *
 * Keys come from the environment of the process, never from the spec or the history:
 * MERIDIAN_CODEC_KEYS (`k2:<base64>,k1:<base64>`) or MERIDIAN_CODEC_KEY_FILE (a file of lines
 * `<id> <base64>`, or JSON). The first key is current and encrypts; the others only decrypt, so a
 * new key goes first and the old ones stay behind it until no history needs them.
 */

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
export const KEYS_ENV = 'MERIDIAN_CODEC_KEYS';
export const KEY_FILE_ENV = 'MERIDIAN_CODEC_KEY_FILE';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** The module the worker, the client and the workflow bundle load their failure converter from. */
export const FAILURE_CONVERTER_PATH = fileURLToPath(new URL('./failure-converter.ts', import.meta.url));

/** A key configuration that cannot be used: the message names the variable or file, and the key id. */
export class CodecKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CodecKeyError';
  }
}

/** A payload that does not decrypt: unknown key id, altered bytes, or a key of the same id that is not the one used. */
export class PayloadDecryptError extends Error {
  readonly keyId: string | undefined;

  constructor(message: string, keyId?: string) {
    super(message);
    this.name = 'PayloadDecryptError';
    this.keyId = keyId;
  }
}

export interface CodecKey {
  id: string;
  key: Buffer;
}

/** Where the keys were read from, as a user names it: for messages that say where to add a key. */
export type KeySource = { kind: 'env'; variable: string } | { kind: 'file'; variable: string; file: string };

export interface Keyset {
  /** Encrypts; also decrypts. */
  current: CodecKey;
  /** Decrypt only: the keys rotated out, kept while histories encrypted with them are read. */
  older: CodecKey[];
  source: KeySource;
}

function describeSource(source: KeySource): string {
  return source.kind === 'env' ? source.variable : `the key file ${source.file} (${source.variable})`;
}

/** How to add a key with this id to the source, for an error message. */
function howToAdd(source: KeySource, id: string): string {
  return source.kind === 'env'
    ? `add "${id}:<base64 key>" to ${source.variable} after the current key`
    : `add a line "${id} <base64 key>" to ${source.file} (${source.variable}) after the current key`;
}

function decodeKey(id: string, encoded: string, where: string): Buffer {
  if (!KEY_ID.test(id)) {
    throw new CodecKeyError(`${where}: key id "${id}" must be 1 to 64 letters, digits, ".", "_" or "-"`);
  }
  const text = encoded.trim();
  if (text === '' || !(BASE64.test(text) || BASE64URL.test(text))) {
    throw new CodecKeyError(`${where}: key "${id}" is not base64; make one with: openssl rand -base64 32`);
  }
  const key = Buffer.from(text, BASE64.test(text) ? 'base64' : 'base64url');
  if (key.length !== KEY_BYTES) {
    throw new CodecKeyError(`${where}: key "${id}" is ${key.length} bytes, an AES-256 key must be exactly ${KEY_BYTES}; make one with: openssl rand -base64 32`);
  }
  return key;
}

function keysetOf(entries: { id: string; key: string }[], source: KeySource): Keyset {
  const where = describeSource(source);
  if (entries.length === 0) throw new CodecKeyError(`${where} holds no key; give at least one as <id>:<base64 key>`);
  const seen = new Set<string>();
  const keys = entries.map(({ id, key }) => {
    if (seen.has(id)) throw new CodecKeyError(`${where}: key id "${id}" appears twice; each key needs its own id`);
    seen.add(id);
    return { id, key: decodeKey(id, key, where) };
  });
  return { current: keys[0]!, older: keys.slice(1), source };
}

/** `k2:<base64>,k1:<base64>`, the first current. */
export function parseKeyList(text: string, variable = KEYS_ENV): Keyset {
  const source: KeySource = { kind: 'env', variable };
  const entries = text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const colon = part.indexOf(':');
      if (colon <= 0) throw new CodecKeyError(`${variable}: "${part.slice(0, 12)}…" is not <id>:<base64 key>; write e.g. k1:$(openssl rand -base64 32)`);
      return { id: part.slice(0, colon).trim(), key: part.slice(colon + 1) };
    });
  return keysetOf(entries, source);
}

/**
 * A key file: lines `<id> <base64 key>` (blank lines and `#` comments skipped), or JSON, either
 * `{"keys": [{"id": "k2", "key": "<base64>"}, ...]}` or the bare array. The first key is current.
 */
export function parseKeyFile(text: string, file: string, variable = KEY_FILE_ENV): Keyset {
  const source: KeySource = { kind: 'file', variable, file };
  const trimmed = text.trim();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) return keysetOf(jsonEntries(trimmed, file), source);
  const entries = trimmed
    .split('\n')
    .map((line, i) => ({ line: line.replace(/#.*$/, '').trim(), n: i + 1 }))
    .filter(({ line }) => line !== '')
    .map(({ line, n }) => {
      const m = /^(\S+)\s+(\S+)$/.exec(line);
      if (!m) throw new CodecKeyError(`${file} line ${n}: expected "<id> <base64 key>" (${variable})`);
      return { id: m[1]!, key: m[2]! };
    });
  return keysetOf(entries, source);
}

function jsonEntries(text: string, file: string): { id: string; key: string }[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CodecKeyError(`${file} is not valid JSON (${(err as Error).message}); write {"keys": [{"id": "k1", "key": "<base64>"}]} or lines "<id> <base64 key>"`);
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { keys?: unknown })?.keys;
  if (!Array.isArray(list)) throw new CodecKeyError(`${file}: expected {"keys": [{"id": "k1", "key": "<base64>"}]}`);
  return list.map((entry, i) => {
    const { id, key } = (entry ?? {}) as { id?: unknown; key?: unknown };
    if (typeof id !== 'string' || typeof key !== 'string') throw new CodecKeyError(`${file}: keys[${i}] needs string fields "id" and "key"`);
    return { id, key };
  });
}

/** The keyset the environment configures, or undefined when neither variable is set (no encryption). */
export function keysetFromEnv(env: NodeJS.ProcessEnv = process.env): Keyset | undefined {
  const list = env[KEYS_ENV]?.trim();
  const file = env[KEY_FILE_ENV]?.trim();
  if (list && file) throw new CodecKeyError(`both ${KEYS_ENV} and ${KEY_FILE_ENV} are set; set only one of them`);
  if (list) return parseKeyList(list);
  if (!file) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CodecKeyError(`${KEY_FILE_ENV}=${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); point it at the key file`);
  }
  return parseKeyFile(text, file);
}

const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null | undefined) => (b ? new TextDecoder().decode(b) : undefined);

export class EncryptionCodec implements PayloadCodec {
  readonly keyset: Keyset;
  private readonly keys: Map<string, Buffer>;

  constructor(keyset: Keyset) {
    this.keyset = keyset;
    this.keys = new Map([keyset.current, ...keyset.older].map((k) => [k.id, k.key]));
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const { id, key } = this.keyset.current;
    return payloads.map((payload) => {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const plain = temporal.api.common.v1.Payload.encode(payload).finish();
      const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return { metadata: { [METADATA_ENCODING_KEY]: utf8(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: utf8(id) }, data: new Uint8Array(sealed) };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => (text(payload.metadata?.[METADATA_ENCODING_KEY]) === ENCRYPTED_ENCODING ? this.decrypt(payload) : payload));
  }

  private decrypt(payload: Payload): Payload {
    const where = describeSource(this.keyset.source);
    const id = text(payload.metadata?.[KEY_ID_METADATA]);
    if (!id) throw new PayloadDecryptError(`an encrypted payload has no ${KEY_ID_METADATA} metadata, so no key in ${where} can be chosen for it`);
    const key = this.keys.get(id);
    if (!key) {
      const known = [this.keyset.current, ...this.keyset.older].map((k) => k.id).join(', ');
      throw new PayloadDecryptError(`a payload is encrypted with key "${id}", which ${where} does not have (it has ${known}); ${howToAdd(this.keyset.source, id)}`, id);
    }
    const data = payload.data ?? new Uint8Array();
    if (data.length < IV_BYTES + TAG_BYTES) throw new PayloadDecryptError(`a payload encrypted with key "${id}" is ${data.length} bytes, too short to hold an IV and a tag`, id);
    const iv = data.subarray(0, IV_BYTES);
    const tag = data.subarray(data.length - TAG_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAuthTag(tag);
    let plain: Buffer;
    try {
      plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new PayloadDecryptError(
        `a payload encrypted with key "${id}" does not authenticate: it was altered, or key "${id}" in ${where} is not the key it was encrypted with`,
        id,
      );
    }
    return temporal.api.common.v1.Payload.decode(plain);
  }
}

/** The codec the environment configures, or undefined when it sets no keys. */
export function codecFromEnv(env: NodeJS.ProcessEnv = process.env): EncryptionCodec | undefined {
  const keyset = keysetFromEnv(env);
  return keyset && new EncryptionCodec(keyset);
}

/** For a startup line: which key encrypts, or that payloads go in plaintext. */
export function describeEncryption(env: NodeJS.ProcessEnv = process.env): string {
  const keyset = keysetFromEnv(env);
  if (!keyset) return `payloads in plaintext (no ${KEYS_ENV} or ${KEY_FILE_ENV})`;
  const older = keyset.older.length ? `, decrypting ${keyset.older.map((k) => k.id).join(', ')} too` : '';
  return `payloads encrypted with key ${keyset.current.id}${older}`;
}

/**
 * The data converter of every client and worker Meridian makes: the encryption codec, and a failure
 * converter that moves failure messages and stack traces into an (encrypted) payload. Undefined
 * when no keys are configured: payloads stay plaintext.
 */
export function codecDataConverter(env: NodeJS.ProcessEnv = process.env): DataConverter | undefined {
  const codec = codecFromEnv(env);
  return codec && { payloadCodecs: [codec], failureConverterPath: FAILURE_CONVERTER_PATH };
}

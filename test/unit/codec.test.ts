import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApplicationFailure, defaultPayloadConverter, type Payload } from '@temporalio/common';
import {
  decodeFromPayloadsAtIndex,
  decodeOptionalFailureToOptionalError,
  encodeErrorToFailure,
  encodeToPayloads,
  loadDataConverter,
} from '@temporalio/common/lib/internal-non-workflow';
import { describe, expect, it } from 'vitest';
import {
  codecDataConverter,
  CodecKeyError,
  EncryptionCodec,
  ENCRYPTED_ENCODING,
  KEY_FILE_ENV,
  KEY_ID_METADATA,
  keysetFromEnv,
  KEYS_ENV,
  parseKeyList,
  PayloadDecryptError,
} from '../../client/codec';
import { tempDir } from '../support/temp-dir';

const key = () => randomBytes(32).toString('base64');
const K1 = key();
const K2 = key();
const SECRET = { image: 'registry.example/vault/ledger:opaque-build-7f3a9c', approvers: ['zelda-cipherwright'] };

const text = (b: Uint8Array | null | undefined) => Buffer.from(b ?? []).toString('utf8');
const codecOf = (keys: string) => new EncryptionCodec(parseKeyList(keys));
const plain = (value: unknown): Payload => defaultPayloadConverter.toPayload(value)!;

async function errorOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('EncryptionCodec', () => {
  it('round-trips a payload, metadata included, and keeps no plaintext in what it sends', async () => {
    const codec = codecOf(`k1:${K1}`);
    const original = plain(SECRET);
    const [encoded] = await codec.encode([original]);
    expect(text(encoded!.metadata!.encoding)).toBe(ENCRYPTED_ENCODING);
    expect(text(encoded!.metadata![KEY_ID_METADATA])).toBe('k1');
    expect(Object.keys(encoded!.metadata!).sort()).toEqual(['encoding', KEY_ID_METADATA].sort());
    expect(Buffer.from(encoded!.data!).includes(SECRET.image)).toBe(false);
    expect(Buffer.from(encoded!.data!).includes('json/plain')).toBe(false);
    // 12-byte IV, the serialized payload, 16-byte tag.
    expect(encoded!.data!.length).toBeGreaterThan(12 + 16 + original.data!.length);

    const [decoded] = await codec.decode([encoded!]);
    expect(text(decoded!.metadata!.encoding)).toBe('json/plain');
    expect(defaultPayloadConverter.fromPayload(decoded!)).toEqual(SECRET);
  });

  it('uses a fresh IV each time, so equal payloads encrypt differently', async () => {
    const codec = codecOf(`k1:${K1}`);
    const [a, b] = await codec.encode([plain(SECRET), plain(SECRET)]);
    expect(Buffer.from(a!.data!).equals(Buffer.from(b!.data!))).toBe(false);
    expect(Buffer.from(a!.data!).subarray(0, 12).equals(Buffer.from(b!.data!).subarray(0, 12))).toBe(false);
  });

  it('passes payloads that are not encrypted through decode unchanged', async () => {
    const codec = codecOf(`k1:${K1}`);
    const original = plain(SECRET);
    const [decoded] = await codec.decode([original]);
    expect(decoded).toBe(original);
  });

  it('after a rotation encrypts with the new current key and still decrypts what the old one wrote', async () => {
    const [old] = await codecOf(`k1:${K1}`).encode([plain(SECRET)]);
    const rotated = codecOf(`k2:${K2},k1:${K1}`);
    const [fresh] = await rotated.encode([plain('after')]);
    expect(text(fresh!.metadata![KEY_ID_METADATA])).toBe('k2');
    const [a, b] = await rotated.decode([old!, fresh!]);
    expect(defaultPayloadConverter.fromPayload(a!)).toEqual(SECRET);
    expect(defaultPayloadConverter.fromPayload(b!)).toBe('after');
  });

  it('names the unknown key id and the variable to add it to', async () => {
    const [old] = await codecOf(`k1:${K1}`).encode([plain(SECRET)]);
    const err = await errorOf(codecOf(`k2:${K2}`).decode([old!]));
    expect(err).toBeInstanceOf(PayloadDecryptError);
    expect((err as PayloadDecryptError).keyId).toBe('k1');
    expect(err.message).toContain('"k1"');
    expect(err.message).toContain(KEYS_ENV);
  });

  it('names the key file when the keys came from one', async () => {
    const dir = tempDir('meridian-codec-');
    const file = join(dir, 'keys');
    writeFileSync(file, `k2 ${K2}\n`);
    const [old] = await codecOf(`k1:${K1}`).encode([plain(SECRET)]);
    const err = await errorOf(new EncryptionCodec(keysetFromEnv({ [KEY_FILE_ENV]: file })!).decode([old!]));
    expect(err.message).toContain('"k1"');
    expect(err.message).toContain(file);
  });

  it('refuses a payload whose ciphertext, IV or tag was altered', async () => {
    const codec = codecOf(`k1:${K1}`);
    const [encoded] = await codec.encode([plain(SECRET)]);
    for (const at of [0, 20, encoded!.data!.length - 1]) {
      const data = new Uint8Array(encoded!.data!);
      data[at]! ^= 0x01;
      const err = await errorOf(codec.decode([{ ...encoded!, data }]));
      expect(err).toBeInstanceOf(PayloadDecryptError);
      expect((err as PayloadDecryptError).keyId).toBe('k1');
    }
  });

  it('refuses a payload encrypted under another key that has the same id', async () => {
    const [encoded] = await codecOf(`k1:${K1}`).encode([plain(SECRET)]);
    await expect(codecOf(`k1:${K2}`).decode([encoded!])).rejects.toBeInstanceOf(PayloadDecryptError);
  });
});

describe('codec keys', () => {
  it('are off when neither variable is set', () => {
    expect(keysetFromEnv({})).toBeUndefined();
    expect(codecDataConverter({ [KEYS_ENV]: ' ' })).toBeUndefined();
  });

  it('take the first key of the list as current', () => {
    const keyset = parseKeyList(`k2:${K2}, k1:${K1}`);
    expect(keyset.current.id).toBe('k2');
    expect(keyset.current.key.equals(Buffer.from(K2, 'base64'))).toBe(true);
    expect(keyset.older.map((k) => k.id)).toEqual(['k1']);
  });

  it('refuse a key that is not 32 bytes, naming the variable and the key id', () => {
    const short = randomBytes(16).toString('base64');
    const err = (() => {
      try {
        parseKeyList(`k1:${K1},old:${short}`);
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(CodecKeyError);
    expect(err!.message).toContain(KEYS_ENV);
    expect(err!.message).toContain('"old"');
    expect(err!.message).toContain('16 bytes');
  });

  it('refuse text that is not base64, a missing id, a repeated id and both variables at once', () => {
    expect(() => parseKeyList('k1:not base64!')).toThrow(CodecKeyError);
    expect(() => parseKeyList(K1)).toThrow(KEYS_ENV);
    expect(() => parseKeyList(`k1:${K1},k1:${K2}`)).toThrow('"k1"');
    expect(() => keysetFromEnv({ [KEYS_ENV]: `k1:${K1}`, [KEY_FILE_ENV]: '/nonexistent' })).toThrow(KEY_FILE_ENV);
  });

  it('read a key file of lines or of JSON, and name the file in its errors', () => {
    const dir = tempDir('meridian-codec-keys-');
    const lines = join(dir, 'keys.txt');
    writeFileSync(lines, `# current first\nk2 ${K2}\n\nk1 ${K1}  # rotated out\n`);
    const fromLines = keysetFromEnv({ [KEY_FILE_ENV]: lines })!;
    expect([fromLines.current.id, ...fromLines.older.map((k) => k.id)]).toEqual(['k2', 'k1']);

    const json = join(dir, 'keys.json');
    writeFileSync(json, JSON.stringify({ keys: [{ id: 'k2', key: K2 }, { id: 'k1', key: K1 }] }));
    const fromJson = keysetFromEnv({ [KEY_FILE_ENV]: json })!;
    expect([fromJson.current.id, ...fromJson.older.map((k) => k.id)]).toEqual(['k2', 'k1']);

    const bad = join(dir, 'bad.txt');
    writeFileSync(bad, `k3 ${randomBytes(31).toString('base64')}\n`);
    expect(() => keysetFromEnv({ [KEY_FILE_ENV]: bad })).toThrow(bad);
    expect(() => keysetFromEnv({ [KEY_FILE_ENV]: bad })).toThrow('"k3"');
    expect(() => keysetFromEnv({ [KEY_FILE_ENV]: join(dir, 'missing') })).toThrow(KEY_FILE_ENV);
  });
});

describe('the data converter of an encrypting client and worker', () => {
  it('encrypts values and failure messages with their stack traces, and decodes them back', async () => {
    const converter = loadDataConverter(codecDataConverter({ [KEYS_ENV]: `k1:${K1}` }));
    const payloads = (await encodeToPayloads(converter, SECRET))!;
    expect(text(payloads[0]!.metadata!.encoding)).toBe(ENCRYPTED_ENCODING);
    expect(await decodeFromPayloadsAtIndex(converter, 0, payloads)).toEqual(SECRET);

    const failure = await encodeErrorToFailure(converter, ApplicationFailure.nonRetryable(`cannot pull ${SECRET.image}`, 'ImagePull'));
    expect(failure.message).not.toContain(SECRET.image);
    expect(failure.stackTrace ?? '').toBe('');
    expect(text(failure.encodedAttributes!.metadata!.encoding)).toBe(ENCRYPTED_ENCODING);
    expect(Buffer.from(failure.encodedAttributes!.data!).includes(SECRET.image)).toBe(false);
    const error = await decodeOptionalFailureToOptionalError(converter, failure);
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect(error!.message).toBe(`cannot pull ${SECRET.image}`);
    expect((error as ApplicationFailure).type).toBe('ImagePull');
  });
});

/**
 * A software WebAuthn authenticator for HTTP tests (the browser tests use Chromium's virtual
 * authenticator instead): P-256 credentials, `none` attestation, a signature counter, and
 * user verification on request. It answers the JSON options Latchkey sends with the JSON a
 * browser (through @simplewebauthn/browser) would post back.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";

type Cbor = number | string | Uint8Array | Cbor[] | Map<Cbor, Cbor> | { [key: string]: Cbor };

/** The CBOR subset attestation objects and COSE keys need (RFC 8949 §3). */
export function cbor(value: Cbor): Buffer {
  const head = (major: number, n: number): Buffer => {
    if (n < 24) return Buffer.from([(major << 5) | n]);
    if (n < 256) return Buffer.from([(major << 5) | 24, n]);
    if (n < 65_536) return Buffer.from([(major << 5) | 25, n >> 8, n & 0xff]);
    const b = Buffer.alloc(5);
    b[0] = (major << 5) | 26;
    b.writeUInt32BE(n, 1);
    return b;
  };
  if (typeof value === "number") return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === "string") {
    const bytes = Buffer.from(value, "utf8");
    return Buffer.concat([head(3, bytes.length), bytes]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), value]);
  if (Array.isArray(value)) return Buffer.concat([head(4, value.length), ...value.map(cbor)]);
  const entries = value instanceof Map ? [...value.entries()] : Object.entries(value);
  return Buffer.concat([
    head(5, entries.length),
    ...entries.flatMap(([k, v]) => [cbor(k), cbor(v)]),
  ]);
}

const sha256 = (data: Buffer | string) => createHash("sha256").update(data).digest();
const b64u = (data: Buffer | Uint8Array) => Buffer.from(data).toString("base64url");

interface SoftCredential {
  id: Buffer;
  rpId: string;
  userHandle: string;
  privateKey: KeyObject;
  counter: number;
}

export interface CeremonyOptions {
  challenge: string;
  rp?: { id?: string };
  rpId?: string;
  user?: { id: string };
  allowCredentials?: { id: string }[];
}

export class SoftAuthenticator {
  readonly credentials: SoftCredential[] = [];

  constructor(
    /** The page the browser would be on. */
    public origin: string,
    /** The RP ID the server uses ("localhost" in development). */
    readonly rpId = "localhost",
  ) {}

  /** `navigator.credentials.create` for these options: a RegistrationResponseJSON. */
  register(options: CeremonyOptions, { userVerified = true } = {}) {
    const rpId = options.rp?.id ?? this.rpId;
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const jwk = publicKey.export({ format: "jwk" });
    const cose = new Map<Cbor, Cbor>([
      [1, 2], // kty: EC2
      [3, -7], // alg: ES256
      [-1, 1], // crv: P-256
      [-2, Buffer.from(jwk.x!, "base64url")],
      [-3, Buffer.from(jwk.y!, "base64url")],
    ]);
    const id = randomBytes(16);
    const credential: SoftCredential = {
      id,
      rpId,
      userHandle: options.user!.id,
      privateKey,
      counter: 0,
    };
    const length = Buffer.alloc(2);
    length.writeUInt16BE(id.length);
    const authData = Buffer.concat([
      sha256(rpId),
      Buffer.from([0x01 | (userVerified ? 0x04 : 0) | 0x40]), // UP, UV?, AT
      Buffer.alloc(4), // counter 0
      Buffer.alloc(16), // aaguid: none
      length,
      id,
      cbor(cose),
    ]);
    const clientData = this.clientData("webauthn.create", options.challenge);
    this.credentials.push(credential);
    return {
      id: b64u(id),
      rawId: b64u(id),
      type: "public-key" as const,
      response: {
        clientDataJSON: b64u(clientData),
        attestationObject: b64u(cbor({ fmt: "none", attStmt: {}, authData })),
        transports: ["internal"],
      },
      clientExtensionResults: {},
      authenticatorAttachment: "platform",
    };
  }

  /** `navigator.credentials.get` for these options: an AuthenticationResponseJSON. */
  assert(
    options: CeremonyOptions,
    {
      userVerified = true,
      credential,
      counter,
    }: { userVerified?: boolean; credential?: SoftCredential; counter?: number } = {},
  ) {
    const rpId = options.rpId ?? this.rpId;
    const allowed = options.allowCredentials?.map((c) => c.id) ?? [];
    const chosen =
      credential ??
      this.credentials.find(
        (c) => c.rpId === rpId && (allowed.length === 0 || allowed.includes(b64u(c.id))),
      );
    if (!chosen) throw new Error("no credential for these options");
    chosen.counter = counter ?? chosen.counter + 1;
    const count = Buffer.alloc(4);
    count.writeUInt32BE(chosen.counter);
    const authData = Buffer.concat([
      sha256(rpId),
      Buffer.from([0x01 | (userVerified ? 0x04 : 0)]),
      count,
    ]);
    const clientData = this.clientData("webauthn.get", options.challenge);
    const signature = sign(
      "sha256",
      Buffer.concat([authData, sha256(clientData)]),
      chosen.privateKey,
    );
    return {
      id: b64u(chosen.id),
      rawId: b64u(chosen.id),
      type: "public-key" as const,
      response: {
        clientDataJSON: b64u(clientData),
        authenticatorData: b64u(authData),
        signature: b64u(signature),
        userHandle: chosen.userHandle,
      },
      clientExtensionResults: {},
      authenticatorAttachment: "platform",
    };
  }

  private clientData(type: string, challenge: string): Buffer {
    return Buffer.from(
      JSON.stringify({ type, challenge, origin: this.origin, crossOrigin: false }),
    );
  }
}

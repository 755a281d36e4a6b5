/**
 * The OS's OpenSSL 3 as `Deno.dlopen` opens it (only on Linux so far): the
 * symbol table, the constants of its C API, the errors it reports, and
 * the C string helpers. `openssl.ts` builds contexts and sessions on it.
 *
 * @module
 */

const SYMBOLS = {
  TLS_client_method: { parameters: [], result: "pointer" },
  TLS_server_method: { parameters: [], result: "pointer" },
  SSL_CTX_new: { parameters: ["pointer"], result: "pointer" },
  SSL_CTX_free: { parameters: ["pointer"], result: "void" },
  SSL_CTX_set_default_verify_paths: { parameters: ["pointer"], result: "i32" },
  SSL_CTX_get_cert_store: { parameters: ["pointer"], result: "pointer" },
  SSL_CTX_set_verify: {
    parameters: ["pointer", "i32", "pointer"],
    result: "void",
  },
  SSL_CTX_use_certificate: {
    parameters: ["pointer", "pointer"],
    result: "i32",
  },
  SSL_CTX_use_PrivateKey: { parameters: ["pointer", "pointer"], result: "i32" },
  SSL_CTX_check_private_key: { parameters: ["pointer"], result: "i32" },
  SSL_CTX_set_num_tickets: { parameters: ["pointer", "usize"], result: "i32" },
  SSL_CTX_ctrl: {
    parameters: ["pointer", "i32", "i64", "pointer"],
    result: "i64",
  },
  SSL_CTX_set_alpn_protos: {
    parameters: ["pointer", "buffer", "u32"],
    result: "i32",
  },
  SSL_CTX_set_alpn_select_cb: {
    parameters: ["pointer", "function", "pointer"],
    result: "void",
  },
  SSL_select_next_proto: {
    parameters: ["pointer", "pointer", "pointer", "u32", "pointer", "u32"],
    result: "i32",
  },
  SSL_new: { parameters: ["pointer"], result: "pointer" },
  SSL_free: { parameters: ["pointer"], result: "void" },
  SSL_set_connect_state: { parameters: ["pointer"], result: "void" },
  SSL_set_accept_state: { parameters: ["pointer"], result: "void" },
  SSL_set_bio: {
    parameters: ["pointer", "pointer", "pointer"],
    result: "void",
  },
  SSL_ctrl: { parameters: ["pointer", "i32", "i64", "buffer"], result: "i64" },
  SSL_set1_host: { parameters: ["pointer", "buffer"], result: "i32" },
  SSL_get0_param: { parameters: ["pointer"], result: "pointer" },
  X509_VERIFY_PARAM_set1_ip_asc: {
    parameters: ["pointer", "buffer"],
    result: "i32",
  },
  SSL_do_handshake: { parameters: ["pointer"], result: "i32" },
  SSL_read: { parameters: ["pointer", "buffer", "i32"], result: "i32" },
  SSL_write: { parameters: ["pointer", "buffer", "i32"], result: "i32" },
  SSL_get_error: { parameters: ["pointer", "i32"], result: "i32" },
  SSL_shutdown: { parameters: ["pointer"], result: "i32" },
  SSL_get_verify_result: { parameters: ["pointer"], result: "i64" },
  SSL_get0_alpn_selected: {
    parameters: ["pointer", "buffer", "buffer"],
    result: "void",
  },
  BIO_s_mem: { parameters: [], result: "pointer" },
  BIO_new: { parameters: ["pointer"], result: "pointer" },
  BIO_new_mem_buf: { parameters: ["buffer", "i32"], result: "pointer" },
  BIO_free: { parameters: ["pointer"], result: "i32" },
  BIO_write: { parameters: ["pointer", "buffer", "i32"], result: "i32" },
  BIO_read: { parameters: ["pointer", "buffer", "i32"], result: "i32" },
  PEM_read_bio_X509: {
    parameters: ["pointer", "pointer", "pointer", "pointer"],
    result: "pointer",
  },
  PEM_read_bio_PrivateKey: {
    parameters: ["pointer", "pointer", "pointer", "pointer"],
    result: "pointer",
  },
  X509_STORE_add_cert: { parameters: ["pointer", "pointer"], result: "i32" },
  X509_free: { parameters: ["pointer"], result: "void" },
  EVP_PKEY_free: { parameters: ["pointer"], result: "void" },
  ERR_get_error: { parameters: [], result: "u64" },
  ERR_clear_error: { parameters: [], result: "void" },
  ERR_reason_error_string: { parameters: ["u64"], result: "pointer" },
  X509_verify_cert_error_string: { parameters: ["i64"], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

/** @internal The symbols of OpenSSL this module uses. */
export type Symbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
/** @internal A C pointer. */
export type Pointer = Deno.PointerValue;

export const SSL_VERIFY_PEER = 1;
export const SSL_CTRL_EXTRA_CHAIN_CERT = 14;
export const SSL_CTRL_MODE = 33;
export const SSL_CTRL_SET_TLSEXT_HOSTNAME = 55;
export const SSL_CTRL_SET_MIN_PROTO_VERSION = 123;
export const TLS1_2_VERSION = 0x0303;
export const SSL_MODE_RELEASE_BUFFERS = 0x10;
export const SSL_ERROR_SSL = 1;
export const SSL_ERROR_WANT_READ = 2;
export const SSL_ERROR_SYSCALL = 5;
export const SSL_ERROR_ZERO_RETURN = 6;
export const SSL_TLSEXT_ERR_OK = 0;
export const SSL_TLSEXT_ERR_NOACK = 3;
export const OPENSSL_NPN_NEGOTIATED = 1;
export const X509_V_OK = 0;

/** Outcome of a handshake step or a read: data moved, or what it waits for. */
export const WANT_READ = -1;
/** The peer sent close_notify: the TLS stream ended cleanly. */
export const CLOSED = -2;

/**
 * OpenSSL cannot be used here: the OS is not one this module supports yet,
 * or `libssl.so.3` is not installed.
 *
 * @example
 * ```ts
 * import { OpenSslUnavailable } from "./openssl_library.ts";
 * console.log(new OpenSslUnavailable("no libssl.so.3").message);
 * ```
 */
export class OpenSslUnavailable extends Error {}

/**
 * A failure OpenSSL reported, with its reason ("certificate verify
 * failed") and, for a certificate, the verifier's verdict.
 *
 * @example
 * ```ts
 * import { OpenSslFailure } from "./openssl_library.ts";
 * const failure = new OpenSslFailure("handshake", "certificate verify failed");
 * console.log(failure.reason);
 * ```
 */
export class OpenSslFailure extends Error {
  /** OpenSSL's reason text. */
  readonly reason: string;
  /**
   * @param what the step that failed
   * @param reason OpenSSL's reason text
   * @param verdict the certificate verifier's verdict, if it failed
   */
  constructor(what: string, reason: string, verdict?: string) {
    super(`${what}: ${reason}${verdict === undefined ? "" : `: ${verdict}`}`);
    this.reason = reason;
  }
}

let symbols: Symbols | null = null;
let unavailable: string | null = null;

/**
 * The loaded library's symbols (loaded once per isolate).
 *
 * @example
 * ```ts ignore
 * import { openSsl } from "./openssl_library.ts";
 * openSsl(); // throws OpenSslUnavailable on macOS and Windows
 * ```
 *
 * @throws {OpenSslUnavailable} off Linux, or when libssl.so.3 cannot be
 *   loaded.
 */
export function openSsl(): Symbols {
  if (symbols !== null) return symbols;
  if (unavailable !== null) throw new OpenSslUnavailable(unavailable);
  if (Deno.build.os !== "linux") {
    unavailable =
      `TLS is not supported on ${Deno.build.os} yet: it runs on the OS's OpenSSL 3, loaded at run time, on Linux only`;
    throw new OpenSslUnavailable(unavailable);
  }
  try {
    symbols = Deno.dlopen("libssl.so.3", SYMBOLS).symbols;
  } catch (error) {
    unavailable = `libssl.so.3 (OpenSSL 3) could not be loaded: ${
      (error as Error).message
    }; install OpenSSL 3 (e.g. apt-get install libssl3)`;
    throw new OpenSslUnavailable(unavailable);
  }
  return symbols;
}

const encoder = new TextEncoder();

/** @internal `text` as a NUL-terminated UTF-8 C string. */
export function cString(text: string): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(text.length * 3 + 1);
  const { written } = encoder.encodeInto(text, bytes);
  return bytes.subarray(0, written + 1) as Uint8Array<ArrayBuffer>;
}

/** @internal The C string at `pointer` ("" for null). */
export function readCString(pointer: Pointer): string {
  if (pointer === null) return "";
  return Deno.UnsafePointerView.getCString(pointer);
}

/**
 * @internal The oldest error OpenSSL queued (its reason text); clears the
 * queue.
 */
export function takeReason(fallback: string): string {
  const ssl = openSsl();
  let first = "";
  for (let round = 0; round < 64; round++) {
    const code = ssl.ERR_get_error();
    if (BigInt(code) === 0n) break;
    if (first === "") {
      first = readCString(ssl.ERR_reason_error_string(code)) ||
        `error ${code.toString(16)}`;
    }
  }
  return first || fallback;
}

/** @internal An OpenSslFailure for `what` with OpenSSL's queued reason. */
export function failure(what: string, fallback: string): OpenSslFailure {
  return new OpenSslFailure(what, takeReason(fallback));
}

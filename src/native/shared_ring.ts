/**
 * Native memory the library shares with JS as a ring (the loop's completion
 * ring in `native_loop.ts`, an endpoint's receive ring in `udp_native.ts`):
 * a header of u32 words that names its layout, then its records, viewed
 * once as an `ArrayBuffer` and read in place with no FFI call per record.
 *
 * @module
 */

/** What a ring's header must say before JS reads the ring. */
export interface RingLayout {
  /** For the error: "the completion ring". */
  name: string;
  /** Bytes of the header. */
  headerBytes: number;
  /** The u32 index of the magic number, and its value. */
  magicWord: number;
  magic: number;
  /** The u32 index of a record size JS was built for, and that size. */
  recordSizeWord: number;
  recordSize: number;
  /** The ring's whole size in bytes, from its header words. */
  bytes(header: Uint32Array): number;
}

/**
 * The ring at `address` (as the library wrote it into a `BigUint64Array`),
 * its header checked against `layout`.
 *
 * @example
 * ```ts ignore
 * const buffer = mapSharedRing(address[0], {
 *   name: "the completion ring", headerBytes: 64, magicWord: 0, magic: MAGIC,
 *   recordSizeWord: 2, recordSize: 16, bytes: (h) => 64 + h[1] * 16,
 * });
 * ```
 *
 * @throws {Error} for a null address or a header of another layout (a
 *   library built from other sources).
 */
export function mapSharedRing(
  address: bigint,
  layout: RingLayout,
): ArrayBuffer {
  const pointer = Deno.UnsafePointer.create(address);
  if (pointer === null) throw new Error(`${layout.name} has a null address`);
  const header = new Uint32Array(
    Deno.UnsafePointerView.getArrayBuffer(pointer, layout.headerBytes),
  );
  if (
    header[layout.magicWord] !== layout.magic ||
    header[layout.recordSizeWord] !== layout.recordSize
  ) {
    throw new Error(
      `${layout.name} has an unknown layout (stale library build: rebuild it)`,
    );
  }
  return Deno.UnsafePointerView.getArrayBuffer(pointer, layout.bytes(header));
}

// Blob garbage collection: a blob goes when no message and no queue entry references it and it is
// older than the grace period. The grace period protects blobs written for a delivery that has not
// committed yet (SMTP writes the blob first, then calls deliver).

import type { CollectableBlobStore } from "../fs-blob-store.js";
import type { Db } from "./db.js";

export const DEFAULT_GC_GRACE_MS = 60 * 60 * 1000;

export async function collectGarbage(
  db: Db,
  blobs: CollectableBlobStore,
  graceMs: number,
): Promise<{ removed: number; tempRemoved: number }> {
  const cutoff = Date.now() - graceMs;
  const tempRemoved = await blobs.removeStaleTemp(cutoff);
  const inUse = db.prep<{ used: number }>(
    `SELECT EXISTS (SELECT 1 FROM messages WHERE blob_id = @id)
         OR EXISTS (SELECT 1 FROM queue_messages WHERE blob_id = @id) AS used`,
  );
  let removed = 0;
  for await (const id of blobs.list()) {
    // the reference check runs under the blob's lock, right before the unlink
    if (await blobs.deleteIfUnused(id, cutoff, () => inUse.get({ id })!.used === 1)) removed++;
  }
  return { removed, tempRemoved };
}

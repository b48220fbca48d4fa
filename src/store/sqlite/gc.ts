// Blob garbage collection: a blob goes when no message and no queue entry references it and it is
// older than the grace period, and with it its row in message_headers. The grace period protects blobs written for a delivery that has not
// committed yet (SMTP writes the blob first, then calls deliver).

import type { CollectableBlobStore } from "../fs-blob-store.js";
import type { Db } from "./db.js";
import type { HybridBlobStore } from "./hybrid-blobs.js";

export const DEFAULT_GC_GRACE_MS = 60 * 60 * 1000;

export async function collectGarbage(
  db: Db,
  blobs: CollectableBlobStore,
  inline: HybridBlobStore,
  graceMs: number,
): Promise<{ removed: number; tempRemoved: number }> {
  const cutoff = Date.now() - graceMs;
  // small blobs (schema 8): pending ones no delivery took, then unreferenced rows of blob_inline
  // created before the cutoff, with their header rows, in one transaction (the checks run in it)
  const dropped = inline.dropPendingBefore(cutoff);
  const unreferenced = `SELECT id FROM blob_inline b WHERE b.created <= @cutoff
       AND NOT EXISTS (SELECT 1 FROM messages WHERE blob_id = b.id)
       AND NOT EXISTS (SELECT 1 FROM queue_messages WHERE blob_id = b.id)`;
  let removed = dropped;
  removed += db.write(() => {
    db.prep(`DELETE FROM message_headers WHERE blob_id IN (${unreferenced})`).run({ cutoff });
    return db.prep(`DELETE FROM blob_inline WHERE id IN (${unreferenced})`).run({ cutoff }).changes;
  });
  const tempRemoved = await blobs.removeStaleTemp(cutoff);
  const inUse = db.prep<{ used: number }>(
    `SELECT EXISTS (SELECT 1 FROM messages WHERE blob_id = @id)
         OR EXISTS (SELECT 1 FROM queue_messages WHERE blob_id = @id) AS used`,
  );
  // the blob's stored header section (schema 7) goes with it; the statement checks again, so a
  // message stored meanwhile by another process keeps its row
  const dropHeader = db.prep(
    `DELETE FROM message_headers WHERE blob_id = @id
       AND NOT EXISTS (SELECT 1 FROM messages WHERE blob_id = @id)`,
  );
  for await (const id of blobs.list()) {
    // the reference check runs under the blob's lock, right before the unlink; the header row is
    // deleted first, so a crash in between leaves an unreferenced blob (collected next time), never
    // a row whose blob is gone
    const used = (): boolean => {
      if (inUse.get({ id })!.used === 1) return true;
      dropHeader.run({ id });
      return false;
    };
    if (await blobs.deleteIfUnused(id, cutoff, used)) removed++;
  }
  return { removed, tempRemoved };
}

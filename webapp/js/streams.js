// Everything the app knows about live streams goes through this module.
//
// Today a stream is a name the creator shares, and its gift feed is what the gift outbox published
// for it: on the local stack, GET /_local/live/<stream_id> (newest first, no token needed).
// Issue 12 adds the real routes: POST /v1/streams (go live), POST /v1/streams/{id}/end,
// GET /v1/streams/{id} (who and whether live) and GET /v1/streams/{id}/top (top gifters).
// Adopting them changes `describeStream`, `fetchGifts` and `goLive` here and nothing else.

import config from "../config.js";

// A stream a fan can gift on: today the creator comes with the link, the stream id is free text.
export async function describeStream(streamId, creatorId) {
  return { streamId, creatorId, live: true };
}

// Today any name is a stream; with issue 12 this becomes POST /v1/streams.
export async function goLive(creatorId, name) {
  const streamId = (name || `${creatorId}-live`).replace(/[^A-Za-z0-9_.:-]/g, "-").slice(0, 128);
  return { streamId, creatorId };
}

export function streamLink({ streamId, creatorId }) {
  return `#/live/${encodeURIComponent(streamId)}?creator=${encodeURIComponent(creatorId)}`;
}

export class FeedUnavailable extends Error {}

// The gifts seen on a stream, newest first: {transfer_id, fan_id, creator_id, gift_id, quantity, coins, created_at}.
export async function fetchGifts(streamId) {
  const response = await fetch(`${config.apiBase}/_local/live/${encodeURIComponent(streamId)}`, {
    headers: { Accept: "application/json" },
  });
  // Deployed, no such route exists until issue 12 (S3 answers 403 or 404 for it).
  if (response.status === 404 || response.status === 403) {
    throw new FeedUnavailable("This deployment has no live gift feed yet: gifts are still sent and credited.");
  }
  if (!response.ok) throw new Error(`the gift feed answered ${response.status}`);
  const answer = await response.json();
  return answer.gifts ?? [];
}

// Calls onGifts with each gift once, oldest first, as they arrive; returns a function that stops.
export function watchGifts(streamId, onGifts, onProblem = () => {}) {
  const seen = new Set();
  let stopped = false;
  let timer;
  async function poll() {
    try {
      const gifts = await fetchGifts(streamId);
      const fresh = gifts.filter((g) => !seen.has(g.transfer_id)).reverse();
      fresh.forEach((g) => seen.add(g.transfer_id));
      if (!stopped) {
        onProblem(null);
        if (fresh.length) onGifts(fresh);
      }
    } catch (error) {
      if (!stopped) onProblem(error);
      if (error instanceof FeedUnavailable) return; // nothing to wait for
    }
    if (!stopped) timer = setTimeout(poll, config.pollMs.feed);
  }
  poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

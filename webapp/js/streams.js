// Everything the app knows about live streams goes through this module.
//
// A creator goes live with POST /v1/streams (becoming a creator first, POST /v1/creator/profile);
// a stream is GET /v1/streams/{id} (whose, live or ended, its totals) and its top gifters
// GET /v1/streams/{id}/top. Its gift feed is what the gift outbox published for it: on the local
// stack, GET /_local/live/<stream_id> (newest first, no token needed).

import config from "../config.js";
import { api, ApiError, idempotencyKey } from "./api.js";

// A stream a fan can gift on. One the API does not know keeps the creator from the link: the
// gift tray still shows, and a gift gets the API's own answer (no such stream, no such creator).
export async function describeStream(streamId, creatorId) {
  try {
    const stream = await api.stream(streamId);
    return { streamId: stream.stream_id, creatorId: stream.creator_id, live: stream.status === "live", title: stream.title, totals: stream.totals };
  } catch (error) {
    if (error instanceof ApiError && (error.code === "stream_not_found" || error.code === "invalid_request")) {
      return { streamId, creatorId, live: false, missing: true };
    }
    throw error;
  }
}

// The creator's live stream: the one they are live on, or a new one.
export async function goLive(creatorId, name) {
  const profile = await api.becomeCreator();
  if (profile.live_stream_id) return { streamId: profile.live_stream_id, creatorId: profile.user_id };
  const stream = await api.startStream(name ?? null, idempotencyKey());
  return { streamId: stream.stream_id, creatorId: stream.creator_id };
}

export async function endStream(streamId) {
  return api.endStream(streamId);
}

// Read again as gifts arrive, whether or not anyone asked: a background read (api.js).
export async function topGifters(streamId, limit = 5) {
  return (await api.streamTop(streamId, limit, { background: true })).items;
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

// Calls onGifts with each gift once, oldest first, as they arrive, and says whether they are the
// gifts already there when watching began ({earlier: true}); returns a function that stops.
export function watchGifts(streamId, onGifts, onProblem = () => {}) {
  const seen = new Set();
  let stopped = false;
  let earlier = true;
  let timer;
  async function poll() {
    try {
      const gifts = await fetchGifts(streamId);
      const fresh = gifts.filter((g) => !seen.has(g.transfer_id)).reverse();
      fresh.forEach((g) => seen.add(g.transfer_id));
      if (!stopped) {
        onProblem(null);
        if (fresh.length) onGifts(fresh, { earlier });
        earlier = false;
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

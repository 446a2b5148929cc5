/**
 * `GET /v1/keys/revocations` as a test client: the stream's text as it arrives. A refused
 * request (not 200) has no stream: its text stays empty and it counts as ended.
 */
export async function openStream(base: string, token: string) {
  const abort = new AbortController();
  const response = await fetch(`${base}/v1/keys/revocations`, {
    headers: { authorization: `Bearer ${token}`, accept: "text/event-stream" },
    signal: abort.signal,
  });
  const state = { text: "", ended: false };
  // A refusal is a JSON error (SPEC §5), read whole before the caller looks at it.
  const body: any = response.ok ? null : await response.json().catch(() => null);
  const done = (async () => {
    if (!response.ok) {
      state.ended = true;
      return;
    }
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        state.text += decoder.decode(value, { stream: true });
      }
    } catch {
      // aborted by the test
    }
    state.ended = true;
  })();
  return { response, status: response.status, body, state, done, close: () => abort.abort() };
}

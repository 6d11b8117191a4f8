// A Server-Sent Events reader over a fetch Response body (WHATWG streams: Node 20+ and
// browsers). Only what the Pyth-On API sends: `event:` and `data:` lines, comment lines
// (keep-alives) ignored, a blank line ends an event.

/**
 * @typedef {object} SseMessage
 * @property {string} event the `event:` field (`message` when absent)
 * @property {string} data the `data:` lines joined by newlines
 */

/**
 * Yields each event of `body` in order; ends with the stream.
 * @param {ReadableStream<Uint8Array>} body
 * @returns {AsyncGenerator<SseMessage, void, undefined>}
 */
export async function* readSse(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder('utf-8');
  let buffer = '';
  let event = '';
  /** @type {string[]} */
  let data = [];
  try {
    for (;;) {
      const { done, value } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let newline;
      while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, newline);
        const crlf = buffer.startsWith('\r\n', newline);
        // A lone `\r` at the end of the buffer may be the first half of `\r\n`.
        if (!crlf && buffer[newline] === '\r' && newline === buffer.length - 1 && !done) break;
        buffer = buffer.slice(newline + (crlf ? 2 : 1));
        if (line === '') {
          if (data.length > 0) yield { event: event || 'message', data: data.join('\n') };
          event = '';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
      }
      if (done) break;
    }
    if (data.length > 0) yield { event: event || 'message', data: data.join('\n') };
  } finally {
    // Leaving early (a `break` in the caller's loop) closes the connection: for a run, that
    // stops it on the server.
    await reader.cancel().catch(() => {});
  }
}

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
export function readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage, void, undefined>;
export type SseMessage = {
    /**
     * the `event:` field (`message` when absent)
     */
    event: string;
    /**
     * the `data:` lines joined by newlines
     */
    data: string;
};

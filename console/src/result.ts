// The result of one run, stated in words: how it ended (exit code, duration, time or memory
// limit, stopped by the user, output cap), stdout and stderr with ANSI codes stripped, and the
// files it returned (images drawn, every file downloadable).

import type { ExecuteResponse, OutputFile } from './api';
import { copyButton, h } from './dom';

/** The limits the run was started with, to name them when it hit one. */
export interface RunLimits {
  timeoutMs?: number;
  memoryMb?: number;
  /** Measured by the page, for a stopped run the server reports as taking 0 ms. */
  elapsedMs?: number;
}

// CSI sequences (colours, cursor moves) and OSC sequences (titles, links).
const ANSI = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)|\u001b[@-Z\\-_]/g;

export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

export function seconds(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

/** A limit as people say it: "5 s", "1.5 s". */
function limitText(ms: number): string {
  return `${Number((ms / 1000).toFixed(2))} s`;
}

function failed(result: ExecuteResponse): boolean {
  return result.exitCode !== 0 || result.timedOut || result.memoryExceeded || Boolean(result.cancelled);
}

/** One sentence per fact: how the run ended, then what else happened to it. */
export function outcome(result: ExecuteResponse, limits: RunLimits = {}): string[] {
  const took = seconds(result.durationMs);
  const lines: string[] = [];
  if (result.cancelled) {
    const ms = result.durationMs || limits.elapsedMs || 0;
    lines.push(ms > 0 ? `Stopped by you after ${seconds(ms)}.` : 'Stopped by you.');
  }
  else if (result.timedOut) lines.push(`Stopped: time limit${limits.timeoutMs ? ` ${limitText(limits.timeoutMs)}` : ''} reached.`);
  else if (result.memoryExceeded) lines.push(`Stopped: out of memory${limits.memoryMb ? ` (${limits.memoryMb} MiB)` : ''}.`);
  else lines.push(`Exited with code ${result.exitCode} after ${took}.`);
  if (result.outputTruncated) lines.push("Output truncated at the server's output limit (1 MiB by default); the program was stopped there.");
  if (result.filesTruncated) lines.push('Some output files were left out: over the server’s file limits.');
  if (result.zeroKnowledge) lines.push('Zero-knowledge run.');
  return lines;
}

export function outputBlock(kind: 'stdout' | 'stderr', text: string, empty: string): HTMLElement[] {
  const pre = h('pre', { class: kind, 'data-testid': kind, tabindex: 0, 'aria-label': kind }, stripAnsi(text) || empty);
  return [
    h('div', { class: 'out-head' }, h('h3', {}, kind), text ? copyButton('Copy', () => stripAnsi(text), `Copy ${kind}`) : null),
    pre,
  ];
}

/** The result of one run: outcome, exit code, stdout, stderr, files and the execution id. */
export function runResult(result: ExecuteResponse, limits: RunLimits = {}): HTMLElement {
  const bad = failed(result);
  return h(
    'section',
    { class: `result ${bad ? 'failed' : 'succeeded'}`, 'aria-label': 'Run result', 'data-testid': 'run-result' },
    h(
      'p',
      { class: 'summary', role: 'status' },
      h('span', { class: 'badge' }, result.cancelled ? 'Stopped' : bad ? 'Failed' : 'Succeeded'),
      ' Exit code ',
      h('strong', { 'data-testid': 'exit-code' }, result.exitCode),
      ` · ${result.durationMs} ms · ${result.language}`,
    ),
    h('ul', { class: 'outcome', 'data-testid': 'outcome' }, outcome(result, limits).map((l) => h('li', {}, l))),
    outputBlock('stdout', result.output, '(no output)'),
    result.error || bad ? outputBlock('stderr', result.error, '(nothing on stderr)') : null,
    result.files?.length ? filesList(result.files) : null,
    h(
      'p',
      { class: 'meta exec-id' },
      'Execution ',
      h('code', { 'data-testid': 'execution-id' }, result.executionId),
      ' ',
      copyButton('Copy id', () => result.executionId, 'Copy execution id'),
    ),
  );
}

const IMAGE_TYPES: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
};

export function base64Blob(data: string, type: string): Blob {
  return new Blob([Uint8Array.from(atob(data), (c) => c.charCodeAt(0))], { type });
}

function fileBlob(file: OutputFile, type: string): Blob {
  return file.encoding === 'utf8' ? new Blob([file.content], { type }) : base64Blob(file.content, type);
}

/**
 * An image drawn on a canvas from its decoded bytes: the CSP's `img-src 'self'` allows neither
 * data: nor blob: URLs, and decoding with createImageBitmap needs no URL at all.
 */
export function imagePreview(blob: Blob, name: string): HTMLCanvasElement {
  const canvas = h('canvas', { class: 'preview', role: 'img', 'aria-label': name, 'data-testid': 'file-image' });
  void createImageBitmap(blob)
    .then((bitmap) => {
      canvas.width = bitmap.width;
      canvas.height = bitmap.height;
      canvas.getContext('2d')?.drawImage(bitmap, 0, 0);
      bitmap.close();
    })
    .catch(() => canvas.replaceWith(h('p', { class: 'meta' }, `${name}: not a picture this browser can show.`)));
  return canvas;
}

function fileItem(file: OutputFile): HTMLElement {
  const ext = file.path.split('.').pop()?.toLowerCase() ?? '';
  const type = IMAGE_TYPES[ext] ?? (file.encoding === 'utf8' ? 'text/plain' : 'application/octet-stream');
  const blob = fileBlob(file, type);
  const name = file.path.split('/').pop() || 'file';
  const link = h('a', { href: URL.createObjectURL(blob), download: name, class: 'download' }, `Download ${file.path}`);
  return h(
    'li',
    { 'data-testid': 'output-file' },
    link,
    h('span', { class: 'meta' }, ` ${file.size} bytes`),
    IMAGE_TYPES[ext] ? imagePreview(blob, file.path) : null,
  );
}

function filesList(files: OutputFile[]): HTMLElement {
  return h('div', { class: 'files' }, h('h3', {}, `Files (${files.length})`), h('ul', {}, files.map(fileItem)));
}

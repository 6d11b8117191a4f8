// A cell's rich results. Images are drawn on a canvas (the CSP allows no data: or blob:
// images). HTML (a DataFrame's table, `display(HTML(...))`) is rendered in a sandboxed frame:
// `sandbox` with no permissions (no scripts, no forms, no same-origin access, no navigation of
// the page) and its document given by `srcdoc`, so it inherits the console's CSP as well. The
// markup is cleaned first: scripts, styles, images, embedded objects, event handlers and every
// URL attribute go (the CSP would refuse them anyway); the frame gets the console's own
// result-frame.css. Its source stays a click away. Other formats are shown as their text.

import { h } from './dom';
import { base64Blob, imagePreview } from './result';

export interface Rich {
  mime: string;
  data: string;
}

const DROPPED = 'script, style, link, meta, base, iframe, frame, frameset, object, embed, applet, noscript, template, form, img, picture, video, audio, source, track';
const URL_ATTRIBUTES = new Set(['src', 'srcset', 'href', 'xlink:href', 'action', 'formaction', 'background', 'poster', 'data', 'ping', 'srcdoc']);
/**
 * `style` and event-handler (`on...`) attributes, removed before parsing: the page's CSP checks
 * them as they are parsed, even in an inert `<template>` (Chromium 156 reports the handlers too).
 */
const CSP_CHECKED_ATTRIBUTE = /([\s/])(?:style|on[a-z0-9_-]*)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)/gi;

/**
 * `html` as a whole document to put in the sandboxed frame. Parsed in a `<template>` (inert:
 * nothing loads or runs), cleaned, serialised. The sandbox and the CSP are what keep the page
 * safe; the cleaning keeps the frame from tripping the CSP (and so from filling the console
 * with violation reports) and its links from leading anywhere.
 */
export function frameDocument(html: string): string {
  const template = document.createElement('template');
  template.innerHTML = html.replace(CSP_CHECKED_ATTRIBUTE, '$1');
  template.content.querySelectorAll(DROPPED).forEach((el) => el.remove());
  for (const el of Array.from(template.content.querySelectorAll('*'))) {
    for (const { name } of Array.from(el.attributes)) {
      const lower = name.toLowerCase();
      if (lower.startsWith('on') || lower === 'style' || URL_ATTRIBUTES.has(lower)) el.removeAttribute(name);
    }
  }
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="stylesheet" href="/result-frame.css"></head><body>${template.innerHTML}</body></html>`;
}

function htmlResult(data: string, n: number): HTMLElement {
  const frame = h('iframe', {
    class: 'html-result',
    sandbox: '',
    title: `Cell ${n} HTML result`,
    referrerpolicy: 'no-referrer',
    loading: 'lazy',
    'data-testid': 'cell-html',
  });
  frame.srcdoc = frameDocument(data);
  const source = h('details', { class: 'html-source' }, h('summary', {}, 'HTML source'), h('pre', { class: 'result-text', tabindex: 0 }, data));
  return h('div', { class: 'rich' }, h('span', { class: 'meta' }, 'text/html, rendered without scripts'), frame, source);
}

export function richResult(result: Rich, n: number): HTMLElement {
  if (result.mime === 'image/png' || result.mime === 'image/jpeg') {
    return imagePreview(base64Blob(result.data, result.mime), `Cell ${n} image`);
  }
  if (result.mime === 'text/html') return htmlResult(result.data, n);
  const note = result.mime === 'text/plain' ? null : h('span', { class: 'meta' }, `${result.mime}, shown as text`);
  return h('div', {}, note, h('pre', { class: 'result-text', 'data-testid': 'cell-result', tabindex: 0 }, result.data));
}

// The JavaScript grammar of the editor: a chunk of its own, loaded for JavaScript code only.
export { javascript } from '@codemirror/lang-javascript';

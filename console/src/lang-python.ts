// The Python grammar of the editor: a chunk of its own, loaded for Python code only.
export { python } from '@codemirror/lang-python';

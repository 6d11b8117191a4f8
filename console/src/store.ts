// What the Run page keeps in localStorage, per account (keyed by user id): the draft (code,
// language, inputs, limits) and the last 20 runs. Nothing secret goes here: no tokens.

export interface Draft {
  language: string;
  code: string;
  stdin: string;
  args: string;
  env: string;
  packages: string;
  secrets: string;
  outputFiles: string;
  timeoutMs: string;
  memoryMb: string;
}

export interface HistoryEntry {
  at: string;
  language: string;
  code: string;
  stdin: string;
  /** One line: how the run ended. */
  summary: string;
  /** The start of stdout, for the list. */
  output: string;
  failed: boolean;
}

export const HISTORY_SIZE = 20;
const OUTPUT_KEPT = 2000;

function read<T>(key: string): T | null {
  try {
    const raw = localStorage.getItem(key);
    return raw ? (JSON.parse(raw) as T) : null;
  } catch {
    return null;
  }
}

function write(key: string, value: unknown): void {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // storage full or disabled: the page still works, it just forgets
  }
}

const draftKey = (user: string) => `pyth-on:draft:${user}`;
const historyKey = (user: string) => `pyth-on:history:${user}`;

export function loadDraft(user: string): Partial<Draft> | null {
  return read<Partial<Draft>>(draftKey(user));
}

export function saveDraft(user: string, draft: Draft): void {
  write(draftKey(user), draft);
}

export function loadHistory(user: string): HistoryEntry[] {
  const list = read<HistoryEntry[]>(historyKey(user));
  return Array.isArray(list) ? list : [];
}

export function addHistory(user: string, entry: HistoryEntry): HistoryEntry[] {
  const list = [{ ...entry, output: entry.output.slice(0, OUTPUT_KEPT) }, ...loadHistory(user)].slice(0, HISTORY_SIZE);
  write(historyKey(user), list);
  return list;
}

export function clearHistory(user: string): void {
  localStorage.removeItem(historyKey(user));
}

// Finds citations of the specification (`relay-behaviour.md §4`,
// `operations.md §2, §3 and §6`) in text and checks them against docs/spec/, so
// a comment can never point at a file or section that does not exist.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Citation {
  file: string;
  section: string;
}

// `<name>.md` then one or more `§N[.M…]`, joined by commas, slashes, "and" or "or".
const CITATION = /([A-Za-z0-9_-]+\.md)((?:(?:\s*(?:,|\/|\band\b|\bor\b))*\s*§\s*\d+(?:\.\d+)*)+)/g;
const SECTION = /§\s*(\d+(?:\.\d+)*)/g;
// A numbered heading: `## 3. Frames`, `### 3.2 Binary leg`, `## §4 Close codes`.
const HEADING = /^#{1,6}\s+§?\s*(\d+(?:\.\d+)*)\.?\s/;

export function findCitations(text: string): Citation[] {
  const out: Citation[] = [];
  for (const m of text.matchAll(CITATION)) {
    const file = m[1] ?? '';
    for (const s of (m[2] ?? '').matchAll(SECTION)) out.push({ file, section: s[1] ?? '' });
  }
  return out;
}

/** The section numbers of a markdown document's numbered headings. */
export function sectionsOf(markdown: string): Set<string> {
  const out = new Set<string>();
  for (const line of markdown.split('\n')) {
    const m = HEADING.exec(line);
    if (m?.[1] !== undefined) out.add(m[1]);
  }
  return out;
}

/** One message per citation that does not resolve in `specDir`; empty when all do. */
export function unresolved(citations: readonly Citation[], specDir: string): string[] {
  const cache = new Map<string, Set<string> | undefined>();
  const problems: string[] = [];
  for (const c of citations) {
    if (!cache.has(c.file)) {
      const p = join(specDir, c.file);
      cache.set(c.file, existsSync(p) ? sectionsOf(readFileSync(p, 'utf8')) : undefined);
    }
    const sections = cache.get(c.file);
    if (sections === undefined) problems.push(`${c.file} §${c.section}: no such file in docs/spec`);
    else if (!sections.has(c.section)) problems.push(`${c.file} §${c.section}: no such section`);
  }
  return problems;
}

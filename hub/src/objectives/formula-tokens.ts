/** The formula language's tokens (formula.ts describes the language), read one at a time on demand. */
import { FormulaError } from './formula-tree.js';

export type Token =
  | { kind: 'number'; position: number; end: number; text: string; value: number }
  | { kind: 'name' | 'operator' | '(' | ')' | ',' | 'end'; position: number; end: number; text: string }
  /** A double-quoted text; `text` is what is between the quotes, which starts at position + 1. */
  | { kind: 'quoted'; position: number; end: number; text: string };

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isNameStart = (c: string | undefined): boolean => c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_');
const isNamePart = (c: string | undefined): boolean => isNameStart(c) || isDigit(c);
const SPACE = /\s/;
const isSpace = (c: string | undefined): boolean => c !== undefined && SPACE.test(c);

export function skipSpaces(source: string, position: number): number {
  while (isSpace(source[position])) position++;
  return position;
}

/** The character at `position` as an error message shows it. */
export function describeCharacter(source: string, position: number): string {
  const character = String.fromCodePoint(source.codePointAt(position) ?? 0);
  if (/^[\p{C}\p{Z}]$/u.test(character)) return `U+${character.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
  return `"${character}"`;
}

export function describeToken(token: Token): string {
  switch (token.kind) {
    case 'end':
      return 'the end of the formula';
    case 'quoted':
      return `the quoted text "${token.text}"`;
    default:
      return `"${token.text}"`;
  }
}

/** The token starting at the first non-space character from `from`. */
export function readToken(source: string, from: number): Token {
  const position = skipSpaces(source, from);
  const c = source[position];
  if (c === undefined) return { kind: 'end', position, end: position, text: '' };
  if (isDigit(c)) return readNumber(source, position);
  if (isNameStart(c)) {
    let end = position + 1;
    while (isNamePart(source[end])) end++;
    return { kind: 'name', position, end, text: source.slice(position, end) };
  }
  if (c === '"') {
    const close = source.indexOf('"', position + 1);
    if (close < 0) throw new FormulaError(position, 'unterminated quoted text: expected a closing " before the end of the formula');
    return { kind: 'quoted', position, end: close + 1, text: source.slice(position + 1, close) };
  }
  if (c === '+' || c === '-' || c === '*' || c === '/') return { kind: 'operator', position, end: position + 1, text: c };
  if (c === '(' || c === ')' || c === ',') return { kind: c, position, end: position + 1, text: c };
  if (c === "'") throw new FormulaError(position, 'texts are written in double quotes, e.g. delta("elec meter energy")');
  if (c === '.' && isDigit(source[position + 1])) throw new FormulaError(position, 'a number starts with a digit, e.g. 0.5');
  throw new FormulaError(
    position,
    `unexpected character ${describeCharacter(source, position)}; a formula has only numbers, names, function calls, quoted texts as their arguments, + - * / and parentheses`,
  );
}

function readNumber(source: string, position: number): Token {
  let end = position;
  while (isDigit(source[end])) end++;
  if (source[end] === '.') {
    end++;
    if (!isDigit(source[end])) throw new FormulaError(end, 'expected a digit after the decimal point, e.g. 1.5');
    while (isDigit(source[end])) end++;
  }
  if (source[end] === 'e' || source[end] === 'E') {
    end++;
    if (source[end] === '+' || source[end] === '-') end++;
    if (!isDigit(source[end])) throw new FormulaError(end, 'expected the digits of the exponent, e.g. 1e3');
    while (isDigit(source[end])) end++;
  }
  const text = source.slice(position, end);
  if (source[end] === '.') throw new FormulaError(end, `unexpected "." after the number ${text}`);
  const value = Number(text);
  if (!Number.isFinite(value)) throw new FormulaError(position, `number out of range: ${text}`);
  return { kind: 'number', position, end, text, value };
}

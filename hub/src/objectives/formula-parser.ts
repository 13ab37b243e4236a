/**
 * Parser of the formula language (formula.ts describes it): recursive descent, one token of
 * lookahead, lexing on demand so that the first error in reading order is the one reported.
 */
import { FORMULA_LIMITS, FormulaError, type Node, type Operator } from './formula-tree.js';
import { describeToken, readToken, skipSpaces, type Token } from './formula-tokens.js';
import { buildCall, FUNCTIONS, misreadArgument, misuse, NAMES, usage, type Argument } from './formula-functions.js';

/** Parses a whole formula into its syntax tree; throws FormulaError at the first problem. */
export class Parser {
  private token: Token;
  private nesting = 0;
  private calls = 0;

  constructor(private readonly source: string) {
    this.token = readToken(source, 0);
  }

  parseFormula(): Node {
    if (this.token.kind === 'end') {
      throw new FormulaError(0, 'empty formula; expected an expression, e.g. delta("elec meter energy") / area');
    }
    const node = this.parseSum();
    const token = this.token;
    if (token.kind === ')') throw new FormulaError(token.position, 'unmatched ")": no "(" is open here');
    if (token.kind !== 'end') {
      throw new FormulaError(
        token.position,
        `unexpected ${describeToken(token)} after a complete expression; expected an operator (+ - * /) or the end of the formula`,
      );
    }
    return node;
  }

  private advance(): Token {
    const token = this.token;
    this.token = readToken(this.source, token.end);
    return token;
  }

  /** sum := product (("+" | "-") product)* */
  private parseSum(): Node {
    let left = this.parseProduct();
    while (this.token.kind === 'operator' && (this.token.text === '+' || this.token.text === '-')) {
      const operator = this.advance().text as Operator;
      left = { kind: 'binary', operator, left, right: this.parseProduct() };
    }
    return left;
  }

  /** product := unary (("*" | "/") unary)* */
  private parseProduct(): Node {
    let left = this.parseUnary();
    while (this.token.kind === 'operator' && (this.token.text === '*' || this.token.text === '/')) {
      const operator = this.advance().text as Operator;
      left = { kind: 'binary', operator, left, right: this.parseUnary() };
    }
    return left;
  }

  /** unary := "-"* primary. A loop, not recursion: a run of minus signs cannot exhaust the stack. */
  private parseUnary(): Node {
    let negations = 0;
    while (this.token.kind === 'operator' && this.token.text === '-') {
      this.advance();
      negations++;
    }
    const operand = this.parsePrimary();
    if (negations % 2 === 0) return operand;
    // A negative literal stays a literal, so that hdd(-5) has a number literal as its base.
    return operand.kind === 'number' ? { kind: 'number', value: -operand.value } : { kind: 'negate', operand };
  }

  /** primary := number | "(" sum ")" | name | name "(" arguments ")" */
  private parsePrimary(): Node {
    const token = this.token;
    switch (token.kind) {
      case 'number':
        this.advance();
        return { kind: 'number', value: token.value };
      case '(': {
        const open = this.enter();
        const node = this.parseSum();
        this.leave(open, '")"');
        return node;
      }
      case 'name':
        return this.source[skipSpaces(this.source, token.end)] === '(' ? this.parseCall() : this.parseName();
      case 'quoted':
        throw new FormulaError(
          token.position,
          'a quoted text is only allowed as the argument of a function, e.g. delta("elec meter energy") or service_sum("calls.answered")',
        );
      default:
        throw new FormulaError(token.position, `expected a number, a name, a function call or "(", found ${describeToken(token)}`);
    }
  }

  private parseName(): Node {
    const token = this.token;
    const node = NAMES.get(token.text);
    if (node === undefined) {
      const signature = FUNCTIONS.get(token.text);
      if (signature !== undefined) throw new FormulaError(token.position, `"${token.text}" is a function that ${usage(token.text, signature)}`);
      throw new FormulaError(token.position, `unknown name "${token.text}"; expected one of ${[...NAMES.keys()].join(', ')}`);
    }
    this.advance();
    return node;
  }

  private parseCall(): Node {
    const name = this.token;
    const signature = FUNCTIONS.get(name.text);
    if (signature === undefined) {
      if (NAMES.has(name.text)) throw new FormulaError(name.position, `"${name.text}" is not a function; write it without parentheses`);
      throw new FormulaError(name.position, `unknown function "${name.text}"; expected one of ${[...FUNCTIONS.keys()].join(', ')}`);
    }
    if (++this.calls > FORMULA_LIMITS.maxCalls) {
      throw new FormulaError(name.position, `too many function calls: at most ${FORMULA_LIMITS.maxCalls} are allowed`);
    }
    this.advance();
    const open = this.enter();
    const args: Argument[] = [];
    for (;;) {
      const token = this.token;
      if (misreadArgument(signature, token, this.source)) throw misuse(token.position, name.text, signature);
      if (token.kind === ')' && args.length === 0) break;
      if (token.kind === 'quoted') {
        this.advance();
        args.push({ kind: 'quoted', position: token.position, text: token.text });
      } else {
        args.push({ kind: 'expression', position: token.position, node: this.parseSum() });
      }
      if (this.token.kind !== ',') break;
      this.advance();
    }
    const close = this.token.position;
    this.leave(open, args.length === 0 ? '")"' : '"," or ")"');
    return buildCall(name.text, signature, args, close);
  }

  /** Consumes a "(" and counts one level of nesting; returns the "(". */
  private enter(): Token {
    const open = this.advance();
    if (++this.nesting > FORMULA_LIMITS.maxNesting) {
      throw new FormulaError(open.position, `nested too deeply: at most ${FORMULA_LIMITS.maxNesting} levels of parentheses are allowed`);
    }
    return open;
  }

  /** Consumes the ")" that closes `open`. */
  private leave(open: Token, expected: string): void {
    if (this.token.kind !== ')') {
      throw new FormulaError(this.token.position, `expected ${expected} to close "(" at column ${open.position + 1}, found ${describeToken(this.token)}`);
    }
    this.advance();
    this.nesting--;
  }
}

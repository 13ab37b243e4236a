/**
 * One area's messages in both languages. English must have exactly the French keys: a missing
 * or extra key is a type error at build time, so neither language can lag behind.
 */
export function defineArea<const F extends Record<string, string>>(fr: F, en: { [K in keyof F]: string }): { fr: F; en: { [K in keyof F]: string } } {
  return { fr, en };
}

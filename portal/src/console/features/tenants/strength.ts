// A password's strength from 0 (very weak) to 4 (very strong): length and variety of characters,
// less for repeats. A hint for the person choosing it; the API enforces only the minimum length.
export function passwordStrength(password: string): number {
  if (password.length < 10) return 0
  const kinds = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^a-zA-Z0-9]/].filter((re) => re.test(password)).length
  const distinct = new Set(password).size
  let score = kinds - 1 + (password.length >= 14 ? 1 : 0)
  if (distinct < password.length / 2) score -= 1
  return Math.max(0, Math.min(4, score))
}

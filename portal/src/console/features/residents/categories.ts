// The care categories' codes, in the catalog's order (their names are in this feature's messages).
export const CARE_CATEGORIES = [
  'elderly_alone',
  'empty_nest_elderly',
  'disabled',
  'child_in_difficulty',
  'left_behind_child',
  'subsistence_household',
  'extreme_poverty',
  'serious_illness',
  'bereaved_parents',
  'veteran_family',
] as const

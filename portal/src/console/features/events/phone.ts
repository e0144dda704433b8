// Whether the console is on a phone-sized screen (the shell's own breakpoint): details open full screen.
import { onScopeDispose, ref, type Ref } from 'vue'

const QUERY = '(max-width: 767px)'

export function usePhone(): Ref<boolean> {
  const media = window.matchMedia(QUERY)
  const phone = ref(media.matches)
  const update = (): void => {
    phone.value = media.matches
  }
  media.addEventListener('change', update)
  onScopeDispose(() => media.removeEventListener('change', update))
  return phone
}

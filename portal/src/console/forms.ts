// What the create forms and list actions of the console share: asking before an action that cannot be
// undone, and putting the API's refusal of a form next to the field it concerns.
import { ElMessage, ElMessageBox } from 'element-plus'
import { ApiError } from '@/api/client'

/** True when the user confirmed `message` with the button named `action` (`cancel` names the other). */
export async function confirmed(message: string, action: string, cancel: string): Promise<boolean> {
  try {
    await ElMessageBox.confirm(message, action, { confirmButtonText: action, cancelButtonText: cancel, type: 'warning' })
    return true
  } catch {
    return false
  }
}

/** The API's refusal as field errors: a 422's by field, a known refusal's code on its field (`known`:
 *  code → [field, text]); anything else is shown as a message and leaves the fields clear. */
export function fieldRefusal(exc: unknown, known: Record<string, [string, string]>, fallback: string): Record<string, string> {
  if (exc instanceof ApiError) {
    const mapped = known[exc.code]
    if (mapped) return { [mapped[0]]: mapped[1] }
    const fields = exc.fieldErrors()
    if (Object.keys(fields).length) return fields
  }
  showRefusal(exc, fallback)
  return {}
}

/** The API's refusal (or, for anything else, `fallback`) as an error message. */
export function showRefusal(exc: unknown, fallback: string): void {
  ElMessage.error(exc instanceof ApiError ? exc.message : fallback)
}

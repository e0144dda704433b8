// Asking staff for a reason before a refusal (reject a case or a request to join, ask for more): null if
// they cancel.
import { ElMessageBox } from 'element-plus'

export async function askReason(title: string, message: string, labels: { confirm: string; cancel: string; required: string }): Promise<string | null> {
  try {
    const answer = await ElMessageBox.prompt(message, title, {
      confirmButtonText: labels.confirm,
      cancelButtonText: labels.cancel,
      inputType: 'textarea',
      inputValidator: (value: string) => ((value ?? '').trim().length > 0 && value.length <= 500) || labels.required,
      customClass: 'reason-prompt',
    })
    return answer.value.trim()
  } catch {
    return null
  }
}

// "Are you sure?" before a step that spends or gives something up, with the step's own words on the buttons.
import { showConfirmDialog } from 'vant'
import 'vant/es/dialog/style'

export async function confirmed(options: { title?: string; message: string; confirm: string; cancel: string }): Promise<boolean> {
  try {
    await showConfirmDialog({
      title: options.title,
      message: options.message,
      confirmButtonText: options.confirm,
      cancelButtonText: options.cancel,
      className: 'app-confirm',
    })
    return true
  } catch {
    return false
  }
}

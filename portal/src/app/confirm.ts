// A question before a step that cannot be undone (revoke a pass, cast a ballot, take an item down):
// true when the resident confirms.
import { showConfirmDialog } from 'vant'
import 'vant/es/dialog/style'

export interface Question {
  title: string
  message: string
  confirm: string
  cancel: string
}

export function confirmed(question: Question): Promise<boolean> {
  const { title, message, confirm, cancel } = question
  return showConfirmDialog({ title, message, confirmButtonText: confirm, cancelButtonText: cancel }).then(
    () => true,
    () => false,
  )
}

// Evidence photos: upload one to an event (multipart), read one back as a local URL for previews.
import { api, call, type Schemas } from '@/api/client'

export function uploadPhoto(eventId: string, file: File): Promise<Schemas['AttachmentOut']> {
  return call(
    api.POST('/api/v1/events/{event_id}/attachments', {
      params: { path: { event_id: eventId } },
      body: { file: file.name },
      bodySerializer: () => {
        const form = new FormData()
        form.append('file', file, file.name)
        return form
      },
    }),
  )
}

/** The photo as an object URL (the API wants the bearer token, which an <img src> cannot send). */
export async function photoUrl(eventId: string, attachmentId: string): Promise<string> {
  const blob = await call(
    api.GET('/api/v1/events/{event_id}/attachments/{attachment_id}', {
      params: { path: { event_id: eventId, attachment_id: attachmentId } },
      parseAs: 'blob',
    }),
  )
  return URL.createObjectURL(blob as Blob)
}

// Photos leave the phone small: drawn on a canvas at most LONG_SIDE pixels on the long side and sent as
// JPEG, so a 12-megapixel shot uploads in a blink on a mobile network (the server strips what metadata is
// left). Only <img>, <canvas> and toBlob: what a WeChat web view has too.
import { api, call } from '@/api/client'

export const MAX_PHOTOS = 9
const LONG_SIDE = 1600
const QUALITY = 0.85

function loadImage(file: Blob): Promise<HTMLImageElement> {
  const url = URL.createObjectURL(file)
  return new Promise((resolve, reject) => {
    const image = new Image()
    image.onload = () => resolve(image)
    image.onerror = () => reject(new Error('not an image'))
    image.src = url
  }).finally(() => URL.revokeObjectURL(url)) as Promise<HTMLImageElement>
}

/** The photo scaled down to LONG_SIDE (never up) as a JPEG file; the original if it cannot be drawn. */
export async function resizePhoto(file: File): Promise<File> {
  let image: HTMLImageElement
  try {
    image = await loadImage(file)
  } catch {
    return file
  }
  const scale = Math.min(1, LONG_SIDE / Math.max(image.naturalWidth, image.naturalHeight))
  const canvas = document.createElement('canvas')
  canvas.width = Math.max(1, Math.round(image.naturalWidth * scale))
  canvas.height = Math.max(1, Math.round(image.naturalHeight * scale))
  const context = canvas.getContext('2d')
  if (!context) return file
  context.drawImage(image, 0, 0, canvas.width, canvas.height)
  const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/jpeg', QUALITY))
  if (!blob) return file
  return new File([blob], file.name.replace(/\.[^.]*$/, '') + '.jpg', { type: 'image/jpeg' })
}

/** A multipart body with one file, for openapi-fetch's upload calls. */
export function fileBody(file: File): { body: { file: string }; bodySerializer: () => FormData } {
  return {
    body: { file: file.name },
    bodySerializer: () => {
      const form = new FormData()
      form.append('file', file, file.name)
      return form
    },
  }
}

/** A protected image (the API wants the bearer token, which an <img src> cannot send) as an object URL. */
export async function blobUrl(pending: Promise<{ data?: unknown; error?: unknown; response: Response }>): Promise<string> {
  return URL.createObjectURL((await call(pending)) as Blob)
}

export function reportPhotoUrl(slug: string, eventId: string, photoId: string): Promise<string> {
  return blobUrl(
    api.GET('/api/v1/app/{slug}/reports/{event_id}/photos/{attachment_id}', {
      params: { path: { slug, event_id: eventId, attachment_id: photoId } },
      parseAs: 'blob',
    }),
  )
}

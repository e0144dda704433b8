// The app's lists read a page at a time with the API's cursors (the console's helper serves both).
export { useCursorList } from '@/console/cursorList'

"""The resident app's backend: sign-in by phone code and requests to join, the home screen, reports
(随手拍) with photos and ratings, notices of `info` services, forms of `form` services and their cases."""

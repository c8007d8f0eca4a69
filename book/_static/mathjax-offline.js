/* Offline stand-in for MathJax. The book loads nothing from a CDN, so TeX in notebook outputs is
   shown as written. Nothing else is done here on purpose. */

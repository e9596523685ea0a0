"""Analytics: reporting and workforce-management maths."""

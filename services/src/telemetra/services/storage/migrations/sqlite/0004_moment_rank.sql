-- A moment's rank (issue 19): how much it stands out, to show the best first. Moments stored before it have none.
ALTER TABLE moments ADD COLUMN rank REAL;

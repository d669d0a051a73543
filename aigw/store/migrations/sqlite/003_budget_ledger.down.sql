DROP TABLE budget_holds;
DROP TABLE budget_ledger;

"""Bank files of the SEPA rail: pain.001 credit-transfer files out (``sepa_credit_transfer``),
pain.002 / camt.054 / camt.053 answers in (``bank_reports``). Rules live in
``shared/domain/bank_files.py``; these modules only read and write ISO 20022 XML."""

DROP TABLE csc_signatures;
DROP TABLE csc_authorizations;
DROP TABLE csc_credentials;

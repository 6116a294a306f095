-- The tenant app of the tutorial (myapp.hotels): hotels and their rooms.
CREATE TABLE hotel (
    id         bigint       GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       varchar(100) NOT NULL,
    city       varchar(100) NOT NULL,
    stars      smallint     NOT NULL CHECK (stars BETWEEN 1 AND 5),
    created_at timestamptz  NOT NULL DEFAULT now()
);

CREATE TABLE room (
    id       bigint       GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hotel_id bigint       NOT NULL REFERENCES hotel (id) ON DELETE CASCADE,
    number   varchar(10)  NOT NULL,
    beds     smallint     NOT NULL CHECK (beds BETWEEN 1 AND 20),
    price    numeric(8,2) NOT NULL CHECK (price >= 0),
    UNIQUE (hotel_id, number)
);
CREATE INDEX room_hotel_idx ON room (hotel_id);
